"""Accept a batch: validate, store the new readings, publish them to their sector's topic.

The raw rows and the publish share one transaction: if the bus refuses the records, nothing
is stored and the client is told to retry; if the process dies after the publish but before
the commit, the client's retry is published again and consumers' idempotence absorbs it.
Records are packed one per partition of a sector's readings topic (ADR 0008).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common import metrics
from riskwatch.common.access import DISTRICT, Scope
from riskwatch.common.bus import Bus, Record, partition_for
from riskwatch.common.errors import Unavailable
from riskwatch.common.events.envelope import ce_headers
from riskwatch.common.events.readings import (
    RawReading,
    ReadingsAccepted,
    encode_readings_accepted,
)
from riskwatch.common.events.topics import readings_topic
from riskwatch.common.retry import is_transient
from riskwatch.common.tracing import child_traceparent
from riskwatch.ingest.devices.cache import DeviceCache, KnownDevice
from riskwatch.ingest.readings.admission import SectorBudgets
from riskwatch.ingest.readings.domain import (
    Rejection,
    ValidReading,
    device_ids_of,
    validate_batch,
)

SOURCE = "/riskwatch/ingest"

# Counts what it inserted: when that is everything, every reading is new (the usual case) and
# no row has to travel back.
_INSERT = text(
    """
    WITH inserted AS (
        INSERT INTO ingest.reading (device_id, metric, ts, value, received_at, batch_id)
        SELECT d, m, t, v, :received_at, :batch_id
        FROM unnest(CAST(:d AS text[]), CAST(:m AS text[]), CAST(:t AS timestamptz[]),
                    CAST(:v AS float8[])) AS u(d, m, t, v)
        ON CONFLICT DO NOTHING
        RETURNING 1
    )
    SELECT count(*) FROM inserted
    """
)
# Which of them this batch inserted, when some were there before (a resent batch).
_INSERTED_BY = text(
    """
    SELECT r.device_id, r.metric, r.ts
    FROM ingest.reading r
    JOIN unnest(CAST(:d AS text[]), CAST(:m AS text[]), CAST(:t AS timestamptz[])) AS u(d, m, t)
      ON (r.device_id, r.metric, r.ts) = (u.d, u.m, u.t)
    WHERE r.batch_id = :batch_id
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
    devices: DeviceCache,
    budgets: SectorBudgets,
    items: Sequence[Any],
    serves: Callable[[str], bool],
    future_tolerance: timedelta,
    publish_timeout_s: float = 5.0,
    now: datetime | None = None,
    scope: Scope = DISTRICT,
) -> BatchResult:
    received_at = now or datetime.now(UTC)
    batch_id = str(uuid.uuid4())
    known = await devices.get_many(session, device_ids_of(items))
    if not scope.is_district:  # a device outside the sender's scope is as unknown to it
        known = {k: d for k, d in known.items() if scope.holds(d.info)}
    valid, rejected = validate_batch(
        items,
        devices={k: d.info for k, d in known.items()},
        now=received_at,
        future_tolerance=future_tolerance,
        serves=serves,
    )
    per_sector = Counter(known[r.device_id].info.sector_id for r in valid)
    await budgets.admit(per_sector)  # SectorOverBudget: nothing stored, nothing published
    fresh: list[ValidReading] = []
    if valid:
        fresh = await _store(session, valid, received_at=received_at, batch_id=batch_id)
        if fresh:
            try:
                async with asyncio.timeout(publish_timeout_s):
                    await bus.publish(
                        await _records(
                            bus, fresh, known, batch_id=batch_id, received_at=received_at
                        )
                    )
            except TimeoutError as exc:
                # The transaction rolls back: nothing stored, the client is told to retry. A
                # record the producer still delivers later is evaluated twice at worst (the
                # retry's copy), never lost (ADR 0004).
                raise Unavailable(
                    f"The event bus did not take the batch within {publish_timeout_s:g} s; "
                    "nothing was stored."
                ) from exc
            except Exception as exc:
                if not is_transient(exc):
                    raise
                raise Unavailable("The event bus is not available; nothing was stored.") from exc
    metrics.READINGS.labels("ingest", "accepted").inc(len(fresh))
    metrics.READINGS.labels("ingest", "duplicate").inc(len(valid) - len(fresh))
    metrics.READINGS.labels("ingest", "rejected").inc(len(rejected))
    return BatchResult(batch_id, len(valid), len(valid) - len(fresh), rejected)


async def _store(
    session: AsyncSession, valid: list[ValidReading], *, received_at: datetime, batch_id: str
) -> list[ValidReading]:
    """Insert the readings not stored yet; those this batch stored, each key once."""
    unique: dict[tuple[str, str, datetime], ValidReading] = {}
    for r in valid:
        unique.setdefault((r.device_id, r.metric, r.ts), r)  # twice in one batch: once
    readings = list(unique.values())
    columns = {
        "d": [r.device_id for r in readings],
        "m": [r.metric for r in readings],
        "t": [r.ts for r in readings],
        "v": [r.value for r in readings],
    }
    inserted = await session.scalar(
        _INSERT, {**columns, "received_at": received_at, "batch_id": batch_id}
    )
    if inserted == len(readings):
        return readings
    keys = {k: columns[k] for k in ("d", "m", "t")}
    rows = await session.execute(_INSERTED_BY, {**keys, "batch_id": batch_id})
    stored = {(device_id, metric, ts) for device_id, metric, ts in rows}
    return [r for key, r in unique.items() if key in stored]


async def _records(
    bus: Bus,
    fresh: list[ValidReading],
    known: dict[str, KnownDevice],
    *,
    batch_id: str,
    received_at: datetime,
) -> list[Record]:
    """One record per partition that this batch's devices live on, each device's readings in
    time order: a device always maps to one partition, so its order holds across records."""
    by_device: dict[str, list[RawReading]] = {}
    for r in fresh:
        by_device.setdefault(r.device_id, []).append((r.metric, r.value, r.ts))
    partitions: dict[str, int] = {}
    packed: dict[tuple[str, int], list[tuple[orjson.Fragment, list[RawReading]]]] = {}
    for device_id, readings in by_device.items():
        device = known[device_id]
        topic = readings_topic(device.info.sector_id)
        if topic not in partitions:
            partitions[topic] = await bus.partitions(topic)
        place = (topic, partition_for(device_id, partitions[topic]))
        readings.sort(key=lambda r: r[2])
        packed.setdefault(place, []).append((device.json, readings))
    traceparent = child_traceparent()
    return [
        Record(
            topic=topic,
            key=None,
            partition=partition,
            value=encode_readings_accepted(
                batch_id=batch_id, received_at=received_at, devices=devices
            ),
            headers=ce_headers(
                event_id=str(uuid.uuid4()),
                source=SOURCE,
                type_=ReadingsAccepted.event_type,
                time=received_at,
                subject=batch_id,
                traceparent=traceparent,
            ),
        )
        for (topic, partition), devices in packed.items()
    ]
