"""Accept a batch: validate, store the new readings, publish them to their sector's topic.

The raw rows and the publish share one transaction: if the bus refuses the records, nothing
is stored and the client is told to retry; if the process dies after the publish but before
the commit, the client's retry is published again and consumers' idempotence absorbs it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common import metrics
from riskwatch.common.bus import Bus, Record, record_for
from riskwatch.common.events import new_event
from riskwatch.common.events.base import DeviceRef
from riskwatch.common.events.readings import Reading, ReadingsAccepted
from riskwatch.common.events.topics import readings_topic
from riskwatch.ingest.devices.models import Device
from riskwatch.ingest.devices.service import find_devices
from riskwatch.ingest.readings.domain import (
    DeviceInfo,
    Rejection,
    ValidReading,
    device_ids_of,
    validate_batch,
)

SOURCE = "/riskwatch/ingest"

_INSERT = text(
    """
    INSERT INTO ingest.reading (device_id, metric, ts, value, received_at, batch_id)
    SELECT d, m, t, v, :received_at, :batch_id
    FROM unnest(CAST(:d AS text[]), CAST(:m AS text[]), CAST(:t AS timestamptz[]),
                CAST(:v AS float8[])) AS u(d, m, t, v)
    ON CONFLICT DO NOTHING
    RETURNING device_id, metric, ts
    """
)


@dataclass(frozen=True, slots=True)
class BatchResult:
    batch_id: str
    accepted: int
    duplicates: int
    rejected: list[Rejection]


async def accept_batch(
    session: AsyncSession,
    *,
    bus: Bus,
    items: Sequence[Any],
    serves: Callable[[str], bool],
    future_tolerance: timedelta,
    now: datetime | None = None,
) -> BatchResult:
    received_at = now or datetime.now(UTC)
    batch_id = str(uuid.uuid4())
    devices = await find_devices(session, device_ids_of(items))
    valid, rejected = validate_batch(
        items,
        devices={k: DeviceInfo(d.sector_id, d.status) for k, d in devices.items()},
        now=received_at,
        future_tolerance=future_tolerance,
        serves=serves,
    )
    fresh: list[ValidReading] = []
    if valid:
        stored = await _store(session, valid, received_at=received_at, batch_id=batch_id)
        seen: set[tuple[str, str, datetime]] = set()
        for r in valid:
            key = (r.device_id, r.metric, r.ts)
            if key in stored and key not in seen:
                seen.add(key)
                fresh.append(r)
        if fresh:
            await bus.publish(_records(fresh, devices, batch_id=batch_id, received_at=received_at))
    metrics.READINGS.labels("ingest", "accepted").inc(len(fresh))
    metrics.READINGS.labels("ingest", "duplicate").inc(len(valid) - len(fresh))
    metrics.READINGS.labels("ingest", "rejected").inc(len(rejected))
    return BatchResult(batch_id, len(valid), len(valid) - len(fresh), rejected)


async def _store(
    session: AsyncSession, valid: list[ValidReading], *, received_at: datetime, batch_id: str
) -> set[tuple[str, str, datetime]]:
    result = await session.execute(
        _INSERT,
        {
            "d": [r.device_id for r in valid],
            "m": [r.metric for r in valid],
            "t": [r.ts for r in valid],
            "v": [r.value for r in valid],
            "received_at": received_at,
            "batch_id": batch_id,
        },
    )
    return {(row.device_id, row.metric, row.ts) for row in result}


def _records(
    fresh: list[ValidReading],
    devices: dict[str, Device],
    *,
    batch_id: str,
    received_at: datetime,
) -> list[Record]:
    """One record per device: its readings in time order, keyed by device for per-device order."""
    by_device: dict[str, list[ValidReading]] = {}
    for r in fresh:
        by_device.setdefault(r.device_id, []).append(r)
    records = []
    for device_id, readings in by_device.items():
        device = devices[device_id]
        readings.sort(key=lambda r: r.ts)
        event = new_event(
            ReadingsAccepted(
                batch_id=batch_id,
                device=device_ref(device),
                readings=[Reading(metric=r.metric, value=r.value, ts=r.ts) for r in readings],
                received_at=received_at,
            ),
            source=SOURCE,
            subject=device_id,
        )
        records.append(record_for(readings_topic(device.sector_id), event))
    return records


def device_ref(device: Device) -> DeviceRef:
    return DeviceRef(
        device_id=device.device_id,
        sector_id=device.sector_id,
        scenario_id=device.scenario_id,
        town_id=device.town_id,
        village_id=device.village_id,
        name=device.name,
    )
