"""The hourly quality counts: once per completed hour (UTC) and sector, the readings of the raw
store whose `ts` falls in that hour and how many carried each quality flag, staged in the outbox
as a `ReadingQualityCounted` (rw.reading-quality) for reporting's monthly report, which never
reads the readings topics themselves.

Exactly once per (sector, hour), with any number of replicas and across restarts: a sector's
row in `reading_quality_mark` says up to where it was counted; a worker claims the due rows
(FOR UPDATE SKIP LOCKED: another replica skips them), counts the earliest due hour, stages the
events and moves the rows on in one transaction. An hour is due `SETTLE` after its end; a round
catches up the hours missed while no worker ran, `CATCH_UP` at most (older ones are skipped,
and a warning says so). Readings stored after their hour was counted are not counted again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common.app import Named, Runtime
from riskwatch.common.bus import TopicSpec
from riskwatch.common.events import EventPayload, new_event
from riskwatch.common.events.base import DeviceRef
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.events.reading_quality import DeviceQuality, ReadingQualityCounted
from riskwatch.common.events.readings import FLAG_NAMES
from riskwatch.common.events.topics import READING_QUALITY
from riskwatch.common.periodic import Periodic
from riskwatch.ingest.devices.models import Device
from riskwatch.ingest.models import SCHEMA, outbox
from riskwatch.ingest.readings.models import RawReading, ReadingQualityMark
from riskwatch.ingest.readings.store import by_flag, per_flag_counts

log = structlog.get_logger(__name__)

SOURCE = "/riskwatch/ingest/quality"
HOUR = timedelta(hours=1)
# An hour is counted this long after it ends: readings a few minutes late are still in.
SETTLE = timedelta(minutes=10)
# How far back a round goes for hours no worker counted (ingest down, a sector new).
CATCH_UP = timedelta(hours=48)
# Flagged devices listed per event, the most flagged first (about 0.3 KiB each).
DEVICES_LISTED = 500
INTERVAL_S = 300.0

Clock = Callable[[], datetime]
# The registry's columns a DeviceRef is made of.
_REF = (
    Device.device_id,
    Device.sector_id,
    Device.scenario_id,
    Device.town_id,
    Device.village_id,
    Device.name,
)
_REF_FIELDS = tuple(c.key for c in _REF)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def floor_hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class DeviceCount:
    """One device's readings of an hour, as the raw store has them."""

    device: DeviceRef
    readings: int
    flagged: int
    by_flag: dict[str, int]


def sector_counts(
    sector_id: str,
    devices: Sequence[DeviceCount],
    *,
    hour_start: datetime,
    counted_at: datetime,
    listed: int = DEVICES_LISTED,
) -> ReadingQualityCounted:
    """The event of one sector's hour: its totals over every device, and its flagged devices,
    most flagged first (ties by id), `listed` at most. Pure."""
    flagged = sorted(
        (d for d in devices if d.flagged), key=lambda d: (-d.flagged, d.device.device_id)
    )
    return ReadingQualityCounted(
        sector_id=sector_id,
        hour_start=hour_start,
        hour_end=hour_start + HOUR,
        counted_at=counted_at,
        readings=sum(d.readings for d in devices),
        flagged=sum(d.flagged for d in devices),
        by_flag={name: sum(d.by_flag.get(name, 0) for d in devices) for name, _ in FLAG_NAMES},
        devices_flagged=len(flagged),
        devices=[
            DeviceQuality(
                device=d.device, readings=d.readings, flagged=d.flagged, by_flag=d.by_flag
            )
            for d in flagged[:listed]
        ],
    )


async def hour_counts(
    session: AsyncSession, *, sectors: Sequence[str], start: datetime, end: datetime
) -> dict[str, list[DeviceCount]]:
    """Per sector (the device's now), each device's readings with `ts` in [start, end): one
    pass over the hour's rows (the time range prunes to the day's partition, its BRIN index to
    the hour's blocks), grouped by device before the registry is joined."""
    in_sectors = select(Device.device_id).where(Device.sector_id.in_(sectors))
    per_device = (
        select(
            RawReading.device_id,
            func.count().label("readings"),
            func.count().filter(RawReading.flags != 0).label("flagged"),
            *per_flag_counts(),
        )
        .where(RawReading.ts >= start, RawReading.ts < end, RawReading.device_id.in_(in_sectors))
        .group_by(RawReading.device_id)
        .subquery()
    )
    rows = await session.execute(
        select(
            *_REF,
            per_device.c.readings,
            per_device.c.flagged,
            *(per_device.c[name] for name, _ in FLAG_NAMES),
        ).join(per_device, per_device.c.device_id == Device.device_id)
    )
    out: dict[str, list[DeviceCount]] = {s: [] for s in sectors}
    for row in rows:
        ref = DeviceRef.model_validate(dict(zip(_REF_FIELDS, row, strict=False)))
        readings, flagged, *flags = row[len(_REF) :]
        out[ref.sector_id].append(DeviceCount(ref, int(readings), int(flagged), by_flag(flags)))
    return out


async def count_next_hour(
    session: AsyncSession,
    *,
    sectors: Sequence[str],
    due_until: datetime,
    oldest: datetime,
    now: datetime,
) -> list[Envelope[EventPayload]]:
    """Count the earliest hour due (ending by `due_until`, starting at `oldest` or later) of
    the served sectors no other worker holds, stage its events and move those sectors' marks
    on; the caller owns the transaction. Returns the events staged: none, nothing was due."""
    claimed = (
        await session.execute(
            select(ReadingQualityMark.sector_id, ReadingQualityMark.counted_until)
            .where(
                ReadingQualityMark.sector_id.in_(sectors),
                ReadingQualityMark.counted_until < due_until,
            )
            .order_by(ReadingQualityMark.sector_id)
            .with_for_update(skip_locked=True)
        )
    ).all()
    if not claimed:
        return []
    skipped = [(sector, until) for sector, until in claimed if until < oldest]
    for sector, until in skipped:
        log.warning("quality_hours_skipped", sector_id=sector, since=until, until=oldest)
    start = max(min(until for _, until in claimed), oldest)
    due = [sector for sector, until in claimed if max(until, oldest) == start]
    counts = await hour_counts(session, sectors=due, start=start, end=start + HOUR)
    staged = [
        (
            READING_QUALITY,
            new_event(
                sector_counts(sector, counts[sector], hour_start=start, counted_at=now),
                source=SOURCE,
                subject=sector,
            ),
            sector,
        )
        for sector in due
    ]
    await outbox.add_many(session, staged)
    await session.execute(
        update(ReadingQualityMark)
        .where(ReadingQualityMark.sector_id.in_(due))
        .values(counted_until=start + HOUR)
    )
    return [event for _, event, _ in staged]


async def count_due_hours(
    sessions: async_sessionmaker[AsyncSession], *, sectors: Sequence[str], now: datetime
) -> list[Envelope[EventPayload]]:
    """One round: every hour due of the served sectors, one hour per transaction. A sector
    seen for the first time starts `CATCH_UP` back."""
    if not sectors:
        return []
    due_until = floor_hour(now - SETTLE)
    oldest = due_until - CATCH_UP
    async with sessions() as session, session.begin():
        # Only the missing rows: an insert that met a row another worker is moving on would
        # wait for that worker's transaction.
        known = set(
            await session.scalars(
                select(ReadingQualityMark.sector_id).where(
                    ReadingQualityMark.sector_id.in_(sectors)
                )
            )
        )
        if new := [{"sector_id": s, "counted_until": oldest} for s in sectors if s not in known]:
            await session.execute(
                insert(ReadingQualityMark)
                .values(new)
                .on_conflict_do_nothing(index_elements=[ReadingQualityMark.sector_id])
            )
    staged: list[Envelope[EventPayload]] = []
    while True:
        async with sessions() as session, session.begin():
            events = await count_next_hour(
                session, sectors=sectors, due_until=due_until, oldest=oldest, now=now
            )
        if not events:
            return staged
        staged += events


def quality_job(
    sessions: async_sessionmaker[AsyncSession], *, sectors: Sequence[str], clock: Clock
) -> Callable[[], Awaitable[list[Envelope[EventPayload]]]]:
    async def job() -> list[Envelope[EventPayload]]:
        return await count_due_hours(sessions, sectors=sectors, now=clock())

    return job


def quality_topics(runtime: Runtime) -> list[TopicSpec]:
    return [TopicSpec(READING_QUALITY, runtime.settings.kafka.default_partitions)]


def quality_counter(runtime: Runtime, sectors: Sequence[str], *, clock: Clock = _utc_now) -> Named:
    """The worker's periodic count (run at start too, so missed hours are caught up)."""
    return Named(
        "worker",
        f"{SCHEMA}-reading-quality",
        Periodic(
            "reading-quality",
            quality_job(runtime.sessions, sectors=sectors, clock=clock),
            interval_s=INTERVAL_S,
            run_at_start=True,
        ),
    )
