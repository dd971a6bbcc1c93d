"""Accept a batch: validate, flag its data quality, store the new readings, publish them to
their sector's topic.

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
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

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
from riskwatch.ingest.liveness.domain import ReceiptMemory
from riskwatch.ingest.liveness.service import note_seen
from riskwatch.ingest.readings.admission import SectorBudgets
from riskwatch.ingest.readings.domain import (
    Rejection,
    ValidReading,
    device_ids_of,
    validate_batch,
)
from riskwatch.ingest.readings.profiles import ProfileCache, ProfileLimits
from riskwatch.ingest.readings.quality import QualityRules, SeriesMemory

SOURCE = "/riskwatch/ingest"

# Counts what it inserted: when that is everything, every reading is new (the usual case) and
# no row has to travel back.
_INSERT = text(
    """
    WITH inserted AS (
        INSERT INTO ingest.reading (device_id, metric, ts, value, received_at, batch_id, flags)
        SELECT d, m, t, v, :received_at, :batch_id, f
        FROM unnest(CAST(:d AS text[]), CAST(:m AS text[]), CAST(:t AS timestamptz[]),
                    CAST(:v AS float8[]), CAST(:f AS int2[])) AS u(d, m, t, v, f)
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
    WHERE r.batch_id = :batch_id AND r.ts BETWEEN :t_min AND :t_max
    """
)


@dataclass(frozen=True, slots=True)
class ReadingsQuality:
    """What the quality flags need in a process: the profiles' limits, the last reading of
    each series (STUCK, SPIKE, GAP), and the rules; and when liveness last noted each device."""

    profiles: ProfileCache
    series: SeriesMemory
    rules: QualityRules
    receipts: ReceiptMemory


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
    quality: ReadingsQuality | None = None,
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
    fresh: list[tuple[ValidReading, int]] = []
    if valid:
        readings = _unique(valid)
        flags, limits = (
            ([0] * len(readings), {})
            if quality is None
            else await _assess(session, readings, known, devices, quality, received_at)
        )
        fresh = await _store(session, readings, flags, received_at=received_at, batch_id=batch_id)
        if fresh:
            # Liveness: devices with a profile are watched; each noted once per window.
            watched = dict.fromkeys(
                r.device_id for r, _ in fresh if known[r.device_id].info.profile_id is not None
            )
            if quality is not None:
                smallest = {
                    d: min((m.interval_s for m in limits[d].values()), default=0.0)
                    for d in watched
                    if d in limits
                }
                due = quality.receipts.due(watched, at=received_at, smallest_interval_s=smallest)
            else:
                due = list(watched)
            await note_seen(session, device_ids=due, at=received_at)
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


@dataclass(frozen=True, slots=True)
class ReadingsPath:
    """What `accept_batch` needs besides the items, for the paths other than HTTP (MQTT, Kafka
    inbound): the HTTP path's own objects."""

    sessions: async_sessionmaker[AsyncSession]
    bus: Bus
    devices: DeviceCache
    budgets: SectorBudgets
    serves: Callable[[str], bool]
    future_tolerance: timedelta
    publish_timeout_s: float
    max_items: int
    quality: ReadingsQuality | None = None  # the process's quality state, as the HTTP path's

    async def accept(
        self,
        session: AsyncSession,
        items: Sequence[Any],
        *,
        now: datetime,
        serves: Callable[[str], bool] | None = None,
    ) -> BatchResult:
        """`accept_batch` for a machine channel (MQTT, Kafka inbound): district scope, since
        who may send is the channel's to say (the broker's ACL, Kafka's), not an account's."""
        return await accept_batch(
            session,
            bus=self.bus,
            devices=self.devices,
            budgets=self.budgets,
            items=items,
            serves=serves or self.serves,
            future_tolerance=self.future_tolerance,
            publish_timeout_s=self.publish_timeout_s,
            now=now,
            scope=DISTRICT,
            quality=self.quality,
        )


def _unique(valid: list[ValidReading]) -> list[ValidReading]:
    """Each key once (twice in one batch: the first), in time order: the order in which the
    quality checks follow each series."""
    unique: dict[tuple[str, str, datetime], ValidReading] = {}
    for r in valid:
        unique.setdefault((r.device_id, r.metric, r.ts), r)
    return sorted(unique.values(), key=_ts)  # linear on the usual, time-ordered batch


def _ts(r: ValidReading) -> datetime:
    return r.ts


async def _assess(
    session: AsyncSession,
    readings: list[ValidReading],
    known: dict[str, KnownDevice],
    devices: DeviceCache,
    quality: ReadingsQuality,
    received_at: datetime,
) -> tuple[list[int], dict[str, ProfileLimits]]:
    """Each reading's quality flags, against its device's profile and its series so far, and
    the profiles' limits per device. No query unless a profile is not cached yet (then one for
    all of them)."""
    profile_of = {
        device_id: device.info.profile_id
        for device_id, device in known.items()
        if device.info.profile_id is not None
    }
    profiles = await quality.profiles.get_many(
        session, set(profile_of.values()), generation=devices.generation
    )
    limits: dict[str, ProfileLimits] = {
        device_id: profiles[profile_id]
        for device_id, profile_id in profile_of.items()
        if profile_id in profiles
    }
    flags = quality.series.assess_all(
        ((r.device_id, r.metric, r.value, r.ts) for r in readings),
        received_at=received_at,
        limits=limits,
        rules=quality.rules,
    )
    return flags, limits


async def _store(
    session: AsyncSession,
    readings: list[ValidReading],
    flags: list[int],
    *,
    received_at: datetime,
    batch_id: str,
) -> list[tuple[ValidReading, int]]:
    """Insert the readings (each key once) not stored yet, with their flags; those this batch
    stored."""
    columns = {
        "d": [r.device_id for r in readings],
        "m": [r.metric for r in readings],
        "t": [r.ts for r in readings],
        "v": [r.value for r in readings],
    }
    inserted = await session.scalar(
        _INSERT, {**columns, "f": flags, "received_at": received_at, "batch_id": batch_id}
    )
    if inserted == len(readings):
        return list(zip(readings, flags, strict=True))
    keys = {k: columns[k] for k in ("d", "m", "t")}
    rows = await session.execute(
        _INSERTED_BY,
        {**keys, "batch_id": batch_id, "t_min": readings[0].ts, "t_max": readings[-1].ts},
    )
    stored = {(device_id, metric, ts) for device_id, metric, ts in rows}
    return [
        (r, f)
        for r, f in zip(readings, flags, strict=True)
        if (r.device_id, r.metric, r.ts) in stored
    ]


async def _records(
    bus: Bus,
    fresh: list[tuple[ValidReading, int]],
    known: dict[str, KnownDevice],
    *,
    batch_id: str,
    received_at: datetime,
) -> list[Record]:
    """One record per partition that this batch's devices live on, each device's readings in
    time order (as `fresh` is): a device always maps to one partition, so its order holds
    across records."""
    by_device: dict[str, list[RawReading]] = {}
    for r, flags in fresh:
        by_device.setdefault(r.device_id, []).append((r.metric, r.value, r.ts, flags))
    partitions: dict[str, int] = {}
    packed: dict[tuple[str, int], list[tuple[orjson.Fragment, list[RawReading]]]] = {}
    for device_id, readings in by_device.items():
        device = known[device_id]
        topic = readings_topic(device.info.sector_id)
        if topic not in partitions:
            partitions[topic] = await bus.partitions(topic)
        place = (topic, partition_for(device_id, partitions[topic]))  # in time order already
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
