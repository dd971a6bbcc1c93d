"""Partitions of the audit trail: made ahead of time, dropped when their whole month is older
than the retention. Dropping a month leaves a checkpoint, so the chain still verifies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common.audit.models import SCHEMA, AuditRecord, Checkpoint
from riskwatch.common.audit.months import Month, expired, months_ahead
from riskwatch.common.audit.settings import AuditSettings
from riskwatch.common.audit.store import lock_chain
from riskwatch.common.periodic import Periodic

log = structlog.get_logger(__name__)

_PARENT = f"{SCHEMA}.{AuditRecord.__tablename__}"
_PARTITIONS = text(
    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
    "WHERE i.inhparent = CAST(:parent AS regclass) ORDER BY c.relname"
)


@dataclass(frozen=True, slots=True)
class Housekept:
    created: list[Month]
    dropped: list[Month]


async def partitions(session: AsyncSession) -> list[Month]:
    """The months that have a partition, oldest first."""
    names = (await session.scalars(_PARTITIONS, {"parent": _PARENT})).all()
    months = []
    for name in names:
        month = Month.of_partition(name)
        if month is None:
            log.warning("audit_partition_unknown", partition=name)
            continue
        months.append(month)
    return sorted(months)


async def create_partition(session: AsyncSession, month: Month) -> None:
    # Names and bounds come from two integers, never from input.
    name = f"{SCHEMA}.{month.partition}"
    await session.execute(
        text(
            f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF {_PARENT} FOR VALUES "
            f"FROM ('{month.start.isoformat()}') TO ('{month.end.isoformat()}')"
        )
    )
    await session.execute(text(f"REVOKE ALL ON {name} FROM PUBLIC"))
    # The row trigger of the parent is cloned onto each partition; TRUNCATE triggers are not.
    await session.execute(
        text(
            f"CREATE OR REPLACE TRIGGER {month.partition}_no_truncate BEFORE TRUNCATE ON {name} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.refuse_change()"
        )
    )


async def ensure_partitions(session: AsyncSession, *, now: datetime, ahead: int) -> list[Month]:
    """Make the partitions of this month and the `ahead` months after it; the ones made."""
    existing = set(await partitions(session))
    made = [m for m in months_ahead(now, ahead) if m not in existing]
    for month in made:
        await create_partition(session, month)
    return made


async def drop_expired(
    session: AsyncSession, *, now: datetime, retention: timedelta
) -> list[Month]:
    """Drop, oldest first, each partition whose whole month ended more than `retention` before
    `now`, leaving a checkpoint at the row after its last one. Hold the chain's lock."""
    dropped: list[Month] = []
    for month in await partitions(session):
        if not expired(month, now=now, retention=retention):
            break
        last = (
            await session.execute(
                select(AuditRecord.seq, AuditRecord.hash)
                .where(AuditRecord.recorded_at >= month.start, AuditRecord.recorded_at < month.end)
                .order_by(AuditRecord.seq.desc())
                .limit(1)
            )
        ).first()
        if last is not None:  # an empty month moves nothing: the last checkpoint still holds
            await session.execute(
                insert(Checkpoint)
                .values(month=month.first_day, first_seq=last.seq + 1, prev_hash=last.hash)
                .on_conflict_do_nothing(index_elements=[Checkpoint.month])
            )
        await session.execute(text(f"DROP TABLE {SCHEMA}.{month.partition}"))
        dropped.append(month)
    return dropped


async def housekeep(
    session: AsyncSession, *, now: datetime, retention: timedelta, ahead: int
) -> Housekept:
    await lock_chain(session)
    created = await ensure_partitions(session, now=now, ahead=ahead)
    dropped = await drop_expired(session, now=now, retention=retention)
    if created or dropped:
        log.info(
            "audit_partitions",
            created=[str(m) for m in created],
            dropped=[str(m) for m in dropped],
        )
    return Housekept(created, dropped)


def housekeeper(sessions: async_sessionmaker[AsyncSession], *, settings: AuditSettings) -> Periodic:
    """The component that keeps the partitions, at start and every interval."""

    async def job() -> None:
        async with sessions() as session, session.begin():
            await housekeep(
                session,
                now=datetime.now(UTC),
                retention=settings.retention,
                ahead=settings.months_ahead,
            )

    return Periodic(
        "audit-housekeeping", job, interval_s=settings.housekeeping_interval_s, run_at_start=True
    )
