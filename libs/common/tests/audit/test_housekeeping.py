"""Monthly partitions: made ahead, dropped once their whole month is older than the retention
(never before), with a checkpoint that keeps the rest of the chain verifiable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.audit.chain import Anchor
from riskwatch.common.audit.housekeeping import housekeep, partitions
from riskwatch.common.audit.models import Checkpoint
from riskwatch.common.audit.months import Month, expired, months_ahead
from riskwatch.common.audit.settings import MIN_RETENTION_DAYS, AuditSettings
from riskwatch.common.audit.store import append, head
from riskwatch.common.audit.verify import verify_trail

from . import factories as f

RETENTION = timedelta(days=MIN_RETENTION_DAYS)
JAN, FEB, MAR = Month(2024, 1), Month(2024, 2), Month(2024, 3)


def at(month: Month, day: int) -> datetime:
    return month.start.replace(day=day, hour=10)


# -- pure ------------------------------------------------------------------------------------


def test_months_roll_over_the_year() -> None:
    assert months_ahead(datetime(2026, 11, 30, 23, 59, tzinfo=UTC), 2) == [
        Month(2026, 11),
        Month(2026, 12),
        Month(2027, 1),
    ]
    assert Month(2026, 12).end == datetime(2027, 1, 1, tzinfo=UTC)
    assert Month.of_partition("record_2027_01") == Month(2027, 1)
    assert Month.of_partition("record_2027_13") is None
    assert Month.of_partition("processed_event") is None


def test_a_month_expires_only_when_all_of_it_is_older_than_the_retention() -> None:
    end = JAN.end
    assert not expired(JAN, now=end + RETENTION, retention=RETENTION)
    assert expired(JAN, now=end + RETENTION + timedelta(microseconds=1), retention=RETENTION)


def test_a_retention_below_184_days_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    assert AuditSettings().retention == RETENTION
    with pytest.raises(ValueError, match="at least 184 days"):
        AuditSettings(retention_days=183)
    monkeypatch.setenv("RW_AUDIT__RETENTION_DAYS", "30")
    with pytest.raises(ValueError, match="at least 184 days"):
        AuditSettings()
    monkeypatch.setenv("RW_AUDIT__RETENTION_DAYS", "400")
    assert AuditSettings().retention_days == 400


# -- on PostgreSQL ---------------------------------------------------------------------------


async def test_partitions_are_made_ahead(session: AsyncSession) -> None:
    done = await housekeep(session, now=at(JAN, 15), retention=RETENTION, ahead=2)
    assert done.created == [JAN, FEB, MAR]
    assert done.dropped == []
    again = await housekeep(session, now=at(JAN, 20), retention=RETENTION, ahead=2)
    assert again.created == []
    assert {JAN, FEB, MAR} <= set(await partitions(session))


async def test_an_expired_month_is_dropped_and_the_chain_still_verifies(
    session: AsyncSession,
) -> None:
    await housekeep(session, now=at(JAN, 15), retention=RETENTION, ahead=2)
    january = await append(session, f.events(3), now=at(JAN, 15))
    february = await append(session, f.events(2), now=at(FEB, 15))
    await append(session, f.events(2), now=at(MAR, 10))
    assert (await verify_trail(session)).ok

    # February ended 157 days before, January 186: only January goes.
    done = await housekeep(session, now=at(Month(2024, 8), 5), retention=RETENTION, ahead=2)
    assert done.dropped == [JAN]
    left = await partitions(session)
    assert JAN not in left
    assert {FEB, MAR, Month(2024, 8), Month(2024, 9), Month(2024, 10)} <= set(left)
    checkpoint = (await session.scalars(select(Checkpoint))).one()
    assert (checkpoint.month, checkpoint.first_seq, checkpoint.prev_hash) == (
        JAN.first_day,
        february[0].seq,
        january[-1].hash,
    )
    result = await verify_trail(session)
    assert result.ok, result.problems
    assert (result.start, result.checked) == (Anchor(4, january[-1].hash), 4)


async def test_the_chain_goes_on_from_the_checkpoint_once_every_month_is_gone(
    session: AsyncSession,
) -> None:
    await housekeep(session, now=at(JAN, 15), retention=RETENTION, ahead=0)
    january = await append(session, f.events(2), now=at(JAN, 15))
    later = datetime(2031, 1, 10, tzinfo=UTC)
    done = await housekeep(session, now=later, retention=RETENTION, ahead=0)
    assert JAN in done.dropped
    assert await partitions(session) == [Month(2031, 1)]
    assert await head(session) == (Anchor(3, january[-1].hash), None)
    more = await append(session, f.events(1), now=later)
    assert (more[0].seq, more[0].prev_hash) == (3, january[-1].hash)
    assert (await verify_trail(session)).ok


async def test_an_empty_expired_month_leaves_no_checkpoint(session: AsyncSession) -> None:
    await housekeep(session, now=at(JAN, 15), retention=RETENTION, ahead=1)
    await append(session, f.events(2), now=at(FEB, 15))
    done = await housekeep(session, now=at(Month(2024, 8), 5), retention=RETENTION, ahead=0)
    assert done.dropped == [JAN]
    assert (await session.scalars(select(Checkpoint))).all() == []
    assert (await verify_trail(session)).ok


async def test_a_month_dropped_without_its_checkpoint_is_reported(session: AsyncSession) -> None:
    await housekeep(session, now=at(JAN, 15), retention=RETENTION, ahead=1)
    await append(session, f.events(2), now=at(JAN, 15))
    await append(session, f.events(2), now=at(FEB, 15))
    await session.execute(text("DROP TABLE audit.record_2024_01"))  # not by housekeeping
    result = await verify_trail(session)
    assert [p.what for p in result.problems] == ["deleted: row(s) 1..2 missing"]
