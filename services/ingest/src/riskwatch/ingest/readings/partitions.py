"""The raw store's daily partitions: made ahead, filled from the default partition, dropped
past the retention. One housekeeping job does all three (`housekeeping_job`, a Periodic).

Partitions are UTC days `[d 00:00Z, d+1 00:00Z)` named `reading_pYYYYMMDD`. The table that
existed before partitioning became one partition, `reading_upto_YYYYMMDD`, holding everything
before that day (MINVALUE to its name's day); it is dropped whole once its last day is past the
retention. `reading_default` takes a reading whose day has no partition, so no reading is ever
refused for want of one; the job gives such days their partition (moving their rows in) when
they are within the retention, and deletes the default's rows older than it.

DDL runs with a lock timeout: a day's partition is attached (SHARE UPDATE EXCLUSIVE on the
parent, which inserts do not wait for) and an old one dropped (a short ACCESS EXCLUSIVE); if a
long query holds the table, the job gives up this round rather than queue the inserts behind
it, and the next round retries.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.ingest.models import SCHEMA

PARENT = "reading"
DEFAULT = "reading_default"
_DAILY = re.compile(r"^reading_p(\d{8})$")
_LEGACY = re.compile(r"^reading_upto_(\d{8})$")
_COLUMNS = "device_id, metric, ts, value, received_at, batch_id, flags"
LOCK_TIMEOUT = "5s"


@dataclass(slots=True)
class Housekeeping:
    """What one round did."""

    created: list[date] = field(default_factory=list)
    moved: int = 0  # rows moved from the default partition into their day's
    dropped: list[str] = field(default_factory=list)
    purged: int = 0  # rows of the default partition older than the retention, deleted


def day_partition(day: date) -> str:
    return f"reading_p{day:%Y%m%d}"


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Partitions:
    days: frozenset[date]
    legacy: str | None  # the table from before partitioning
    legacy_until: date | None  # its exclusive upper bound
    has_default: bool

    def covers(self, day: date) -> bool:
        return day in self.days or (self.legacy_until is not None and day < self.legacy_until)


async def partitions(session: AsyncSession) -> Partitions:
    rows = await session.execute(
        text(
            """
            SELECT c.relname
            FROM pg_inherits i
            JOIN pg_class c ON c.oid = i.inhrelid
            JOIN pg_class p ON p.oid = i.inhparent
            JOIN pg_namespace n ON n.oid = p.relnamespace
            WHERE n.nspname = :schema AND p.relname = :parent
            """
        ),
        {"schema": SCHEMA, "parent": PARENT},
    )
    days: set[date] = set()
    legacy: str | None = None
    legacy_until: date | None = None
    has_default = False
    for (name,) in rows:
        if (m := _DAILY.match(name)) is not None:
            days.add(datetime.strptime(m.group(1), "%Y%m%d").date())
        elif (m := _LEGACY.match(name)) is not None:
            legacy, legacy_until = name, datetime.strptime(m.group(1), "%Y%m%d").date()
        elif name == DEFAULT:
            has_default = True
    return Partitions(frozenset(days), legacy, legacy_until, has_default)


async def keep_partitions(
    session: AsyncSession, *, today: date, ahead_days: int, retention_days: int
) -> Housekeeping:
    """Make the partitions of today and the next `ahead_days` days, and of any day within the
    retention that has readings in the default partition; drop those whose days are all older
    than `retention_days` before today. The caller owns the transaction."""
    done = Housekeeping()
    # One replica at a time; another one's round skips.
    if not await session.scalar(
        text("SELECT pg_try_advisory_xact_lock(hashtext(:key))"),
        {"key": "ingest.reading.partitions"},
    ):
        return done
    await session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    have = await partitions(session)
    keep_from = today - timedelta(days=retention_days)  # the oldest day kept
    wanted = {today + timedelta(days=n) for n in range(ahead_days + 1)}
    if have.has_default:
        stray = await session.scalars(
            text(
                "SELECT DISTINCT CAST(ts AT TIME ZONE 'UTC' AS date) "
                "FROM ingest.reading_default WHERE ts >= :since"
            ),
            {"since": day_start(keep_from)},
        )
        wanted.update(stray)
    for day in sorted(wanted):
        if not have.covers(day):
            done.moved += await _create(session, day, has_default=have.has_default)
            done.created.append(day)
    for day in sorted(have.days):
        if day < keep_from:
            await session.execute(text(f"DROP TABLE {SCHEMA}.{day_partition(day)}"))
            done.dropped.append(day_partition(day))
    legacy, until = have.legacy, have.legacy_until
    if legacy is not None and until is not None and until <= keep_from:
        await session.execute(text(f"DROP TABLE {SCHEMA}.{legacy}"))
        done.dropped.append(legacy)
    if have.has_default:
        purged = await session.execute(
            text("DELETE FROM ingest.reading_default WHERE ts < :before"),
            {"before": day_start(keep_from)},
        )
        done.purged = _rowcount(purged)
    return done


async def _create(session: AsyncSession, day: date, *, has_default: bool) -> int:
    """Make `day`'s partition with the default partition's rows of that day in it; how many
    rows moved. Attached rather than created as a partition: a lighter lock on the parent."""
    name = f"{SCHEMA}.{day_partition(day)}"
    lo, hi = day_start(day).isoformat(), day_start(day + timedelta(days=1)).isoformat()
    await session.execute(text(f"CREATE TABLE {name} (LIKE {SCHEMA}.{PARENT} INCLUDING DEFAULTS)"))
    moved = 0
    if has_default:
        move = (  # our own table names
            f"WITH moved AS (DELETE FROM {SCHEMA}.{DEFAULT} "  # noqa: S608
            f"WHERE ts >= :lo AND ts < :hi RETURNING {_COLUMNS}) "
            f"INSERT INTO {name} ({_COLUMNS}) SELECT {_COLUMNS} FROM moved"
        )
        result = await session.execute(
            text(move), {"lo": day_start(day), "hi": day_start(day + timedelta(days=1))}
        )
        moved = _rowcount(result)
    await session.execute(
        text(
            f"ALTER TABLE {SCHEMA}.{PARENT} ATTACH PARTITION {name} "
            f"FOR VALUES FROM ('{lo}') TO ('{hi}')"
        )
    )
    return moved


def _rowcount(result: object) -> int:
    count = getattr(result, "rowcount", 0)
    return int(count) if isinstance(count, int) and count > 0 else 0


def housekeeping_job(
    sessions: async_sessionmaker[AsyncSession],
    *,
    ahead_days: int,
    retention_days: int,
    clock: Callable[[], datetime],
) -> Callable[[], Awaitable[Housekeeping]]:
    """The job for a Periodic (say hourly, run at start): one round in its own transaction."""

    async def job() -> Housekeeping:
        async with sessions() as session, session.begin():
            return await keep_partitions(
                session,
                today=clock().astimezone(UTC).date(),
                ahead_days=ahead_days,
                retention_days=retention_days,
            )

    return job
