"""Queries of the raw store: series in buckets, the latest reading of each metric, and counts
of flagged readings. Each one's time range prunes the daily partitions it reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import Label, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.access import DISTRICT, Scope
from riskwatch.common.errors import Invalid
from riskwatch.common.events.readings import FLAG_NAMES
from riskwatch.ingest.devices.models import Device
from riskwatch.ingest.readings.models import RawReading

BUCKETS: dict[str, timedelta] = {
    "1m": timedelta(minutes=1),
    "5m": timedelta(minutes=5),
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "1d": timedelta(days=1),
}
Bucket = Literal["1m", "5m", "15m", "1h", "6h", "1d"]
MAX_BUCKETS = 1500
MAX_QUALITY_RANGE = timedelta(days=93)
# Buckets start at whole multiples of their width from this instant (UTC midnight).
ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)

_SERIES = text(
    """
    SELECT date_bin(:width, ts, :origin) AS bucket,
           min(value), max(value), avg(value), count(*), count(*) FILTER (WHERE flags <> 0)
    FROM ingest.reading
    WHERE device_id = :device_id AND metric = :metric AND ts >= :since AND ts < :until
      AND (flags = 0 OR NOT :exclude_flagged)
    GROUP BY bucket
    ORDER BY bucket
    """
)

# The metrics of a device (a loose index scan on the primary key, one probe per metric and
# partition), then the newest reading of each.
_LATEST = text(
    """
    WITH RECURSIVE metrics(metric) AS (
        (SELECT metric FROM ingest.reading
         WHERE device_id = :device_id AND ts >= :since ORDER BY metric LIMIT 1)
        UNION ALL
        SELECT (SELECT r.metric FROM ingest.reading r
                WHERE r.device_id = :device_id AND r.ts >= :since AND r.metric > m.metric
                ORDER BY r.metric LIMIT 1)
        FROM metrics m WHERE m.metric IS NOT NULL
    )
    SELECT l.metric, l.value, l.ts, l.received_at, l.flags
    FROM metrics m
    CROSS JOIN LATERAL (
        SELECT r.metric, r.value, r.ts, r.received_at, r.flags FROM ingest.reading r
        WHERE r.device_id = :device_id AND r.metric = m.metric AND r.ts >= :since
        ORDER BY r.ts DESC LIMIT 1
    ) l
    WHERE m.metric IS NOT NULL
    ORDER BY l.metric
    """
)


@dataclass(frozen=True, slots=True)
class SeriesBucket:
    start: datetime
    min: float
    max: float
    avg: float
    count: int
    flagged: int


@dataclass(frozen=True, slots=True)
class LatestReading:
    metric: str
    value: float
    ts: datetime
    received_at: datetime
    flags: int


@dataclass(frozen=True, slots=True)
class FlagCounts:
    key: str
    flagged: int
    counts: dict[str, int]  # flag name -> readings with it


def per_flag_counts() -> list[Label[int]]:
    """One count column per flag, in FLAG_NAMES order: readings with that flag set."""
    return [
        func.count().filter(RawReading.flags.op("&")(int(flag)) != 0).label(name)
        for name, flag in FLAG_NAMES
    ]


def by_flag(values: Sequence[int]) -> dict[str, int]:
    """The values of `per_flag_counts()` columns by flag name."""
    return {name: int(n) for (name, _), n in zip(FLAG_NAMES, values, strict=True)}


def check_range(since: datetime, until: datetime) -> None:
    if until <= since:
        raise Invalid("`to` must be after `from`.", field="to")


async def series(
    session: AsyncSession,
    *,
    device_id: str,
    metric: str,
    since: datetime,
    until: datetime,
    bucket: Bucket,
    exclude_flagged: bool = False,
) -> list[SeriesBucket]:
    """min, max, avg and count of each bucket of [since, until) that has readings."""
    check_range(since, until)
    width = BUCKETS[bucket]
    if (until - since) / width > MAX_BUCKETS:
        raise Invalid(
            f"{bucket} buckets over this range would be more than {MAX_BUCKETS}; "
            "take a wider bucket or a shorter range.",
            field="bucket",
        )
    rows = await session.execute(
        _SERIES,
        {
            "width": width,
            "origin": ORIGIN,
            "device_id": device_id,
            "metric": metric,
            "since": since,
            "until": until,
            "exclude_flagged": exclude_flagged,
        },
    )
    return [SeriesBucket(*row) for row in rows]


async def latest(session: AsyncSession, *, device_id: str, since: datetime) -> list[LatestReading]:
    """The newest reading of each metric the device sent since `since`."""
    rows = await session.execute(_LATEST, {"device_id": device_id, "since": since})
    return [LatestReading(*row) for row in rows]


async def flag_counts(
    session: AsyncSession,
    *,
    since: datetime,
    until: datetime,
    group_by: Literal["device", "sector"],
    scope: Scope = DISTRICT,
    limit: int = 1000,
) -> list[FlagCounts]:
    """Flagged readings of [since, until) per device or sector (the device's sector now), and
    per flag; a group without any is left out."""
    check_range(since, until)
    if until - since > MAX_QUALITY_RANGE:
        raise Invalid(f"At most {MAX_QUALITY_RANGE.days} days at once.", field="from")
    key = Device.device_id if group_by == "device" else Device.sector_id
    stmt = (
        select(key, func.count(), *per_flag_counts())
        .select_from(RawReading)
        .join(Device, Device.device_id == RawReading.device_id)
        .where(
            RawReading.flags != 0,
            RawReading.ts >= since,
            RawReading.ts < until,
            scope.on(Device),
        )
        .group_by(key)
        .order_by(key)
        .limit(limit)
    )
    return [FlagCounts(row[0], row[1], by_flag(row[2:])) for row in await session.execute(stmt)]
