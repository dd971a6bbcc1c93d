"""Topic `rw.<sector>.readings`, key `device_id`: readings ingest accepted, one device per record.

One record carries every reading of one device from one request, in timestamp order, so the
per-device order that durations and hysteresis rely on holds within and across records.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat

from riskwatch.common.events.base import DeviceRef, EventPayload, Timestamp, event_type


class Reading(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    metric: str = Field(min_length=1, max_length=64)
    value: FiniteFloat
    ts: Timestamp


@event_type("rw.readings.accepted.v1")
class ReadingsAccepted(EventPayload):
    batch_id: str
    device: DeviceRef
    readings: list[Reading] = Field(min_length=1)
    received_at: Timestamp
