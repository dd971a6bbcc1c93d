"""Topic `rw.<sector>.readings`: readings ingest accepted, packed one record per partition.

A record carries, for one request, every device of that request whose partition it is
(`partition_for(device_id)`), each with its readings in timestamp order. A device always maps
to the same partition and a partition is consumed in order, so the per-device order that
durations and hysteresis rely on holds within and across records (ADR 0008).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import IntFlag

import orjson
from pydantic import BaseModel, ConfigDict, Field, FiniteFloat

from riskwatch.common.events.base import DeviceRef, EventPayload, Timestamp, event_type


class Flag(IntFlag):
    """The data quality flags of a reading (`Reading.flags`, ingest's raw store): bits of a
    mask. ingest's readings/quality.py says when each is set."""

    OUT_OF_RANGE = 1  # outside the physical range of its metric in the device's profile
    LATE = 2  # received long after its timestamp
    STUCK = 4  # the same value N times in a row
    SPIKE = 8  # a jump larger than a share of the metric's range
    GAP = 16  # the first reading after its series missed one or more intervals


# Flag names as the APIs, the reports and the quality counts' events spell them, in bit order.
FLAG_NAMES: tuple[tuple[str, Flag], ...] = (
    ("out_of_range", Flag.OUT_OF_RANGE),
    ("late", Flag.LATE),
    ("stuck", Flag.STUCK),
    ("spike", Flag.SPIKE),
    ("gap", Flag.GAP),
)


class Reading(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    metric: str = Field(min_length=1, max_length=64)
    value: FiniteFloat
    ts: Timestamp
    # Data quality flags ingest found, a bitmask of `Flag`: 1 out of the profile's range, 2 late,
    # 4 stuck (the same value N times in a row), 8 spike, 16 gap (intervals missed before it).
    # 0 (left out of the JSON) when none; records written before the field decode as 0.
    flags: int = Field(default=0, ge=0, le=32767)


class DeviceReadings(BaseModel):
    """One device's readings of one request, in timestamp order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    device: DeviceRef
    readings: list[Reading] = Field(min_length=1)


@event_type("rw.readings.accepted.v2")
class ReadingsAccepted(EventPayload):
    batch_id: str
    received_at: Timestamp
    devices: list[DeviceReadings] = Field(min_length=1)


def device_json(device: DeviceRef) -> orjson.Fragment:
    """A device's JSON, encoded once and reused in every record that carries it."""
    return orjson.Fragment(device.model_dump_json(exclude_none=True).encode())


# (metric, value, ts, flags) of one reading, already validated.
RawReading = tuple[str, float, datetime, int]


def encode_readings_accepted(
    *,
    batch_id: str,
    received_at: datetime,
    devices: Iterable[tuple[orjson.Fragment, Sequence[RawReading]]],
) -> bytes:
    """The JSON value of a `ReadingsAccepted`, built without a model per reading: the hot
    path of ingest. A test checks that it decodes to what the model itself would encode."""
    return orjson.dumps(
        {
            "batch_id": batch_id,
            "received_at": received_at,
            "devices": [
                {
                    "device": device,
                    "readings": [
                        {"metric": m, "value": v, "ts": ts, "flags": f}
                        if f
                        else {"metric": m, "value": v, "ts": ts}
                        for m, v, ts, f in readings
                    ],
                }
                for device, readings in devices
            ],
        }
    )
