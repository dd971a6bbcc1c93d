"""The stored chain on a real PostgreSQL: appends verify, an attacker's direct edits (with the
triggers bypassed, as a superuser could) are found, the triggers refuse changes to anyone, and
the services' role may only read and append, on the partitions too."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.audit.chain import GENESIS, GENESIS_HASH, Anchor
from riskwatch.common.audit.housekeeping import ensure_partitions
from riskwatch.common.audit.models import SERVICE_ROLE, AuditRecord
from riskwatch.common.audit.module import MIGRATIONS
from riskwatch.common.audit.store import append, head
from riskwatch.common.audit.verify import verify_trail
from riskwatch.common.retry import sqlstate_of
from riskwatch.common.testing import engine_for, migrate

from . import factories as f

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
# Rows recorded at NOW live in the partition audit.record_2026_11.
INSUFFICIENT_PRIVILEGE = "42501"


async def chain_of(session: AsyncSession, count: int) -> list[int]:
    await ensure_partitions(session, now=NOW, ahead=0)
    links = await append(session, f.events(count), now=NOW)
    return [link.seq for link in links]


async def refused(
    session: AsyncSession, sql: str, *, role: str | None = None, seq: int = 0
) -> DBAPIError:
    """The error `sql` fails with, in a savepoint (as `role` if given)."""

    async def attempt() -> None:
        async with session.begin_nested():
            if role:
                await session.execute(text(f"SET LOCAL ROLE {role}"))
            await session.execute(text(sql), {"seq": seq} if ":seq" in sql else {})

    with pytest.raises(DBAPIError) as caught:
        await attempt()
    return caught.value


async def test_appended_rows_form_a_chain_that_verifies(session: AsyncSession) -> None:
    assert await head(session) == (GENESIS, None)
    await ensure_partitions(session, now=NOW, ahead=0)
    first = await append(session, f.events(3), now=NOW)
    second = await append(session, [f.event(actor="bob", roles=[], scope=None)], now=NOW)
    assert [link.seq for link in [*first, *second]] == [1, 2, 3, 4]
    assert first[0].prev_hash == GENESIS_HASH
    assert second[0].prev_hash == first[-1].hash
    assert await head(session) == (Anchor(5, second[0].hash), NOW)
    result = await verify_trail(session)
    assert result.ok, result.problems
    assert (result.checked, result.head) == (4, Anchor(5, second[0].hash))
    stored = await session.get(AuditRecord, (2, NOW))
    assert stored is not None
    assert (stored.actor, stored.at, stored.resource) == ("alice", f.T0, "rules/r-1")


async def test_recorded_at_never_goes_back_along_the_chain(session: AsyncSession) -> None:
    await ensure_partitions(session, now=NOW, ahead=0)
    await append(session, f.events(1), now=NOW)
    earlier = await append(session, f.events(1), now=NOW - timedelta(minutes=5))
    assert earlier[0].fields["recorded_at"] == NOW


async def test_text_postgresql_cannot_hold_is_stored_visibly_replaced(
    session: AsyncSession,
) -> None:
    await ensure_partitions(session, now=NOW, ahead=0)
    await append(session, [f.event(resource="rules/a\x00b")], now=NOW)
    assert await session.scalar(select(AuditRecord.resource)) == "rules/a\ufffdb"
    assert (await verify_trail(session)).ok


async def test_a_row_altered_directly_in_postgresql_is_reported(session: AsyncSession) -> None:
    seqs = await chain_of(session, 5)
    # An attacker with the superuser's rights: triggers off for the session, one field changed.
    await session.execute(text("SET LOCAL session_replication_role = replica"))
    await session.execute(
        text("UPDATE audit.record SET actor = 'mallory' WHERE seq = :seq"), {"seq": seqs[2]}
    )
    await session.execute(text("SET LOCAL session_replication_role = origin"))
    result = await verify_trail(session)
    assert not result.ok
    assert [(p.seq, p.what.split(":")[0]) for p in result.problems] == [(seqs[2], "altered")]


async def test_a_row_altered_and_rehashed_still_breaks_the_next_link(
    session: AsyncSession,
) -> None:
    seqs = await chain_of(session, 4)
    await session.execute(text("SET LOCAL session_replication_role = replica"))
    await session.execute(
        text("UPDATE audit.record SET outcome = 'failure', hash = repeat('e', 64) WHERE seq = :s"),
        {"s": seqs[1]},
    )
    await session.execute(text("SET LOCAL session_replication_role = origin"))
    problems = (await verify_trail(session)).problems
    assert {p.seq for p in problems} == {seqs[1], seqs[2]}


async def test_a_row_deleted_directly_in_postgresql_is_reported(session: AsyncSession) -> None:
    seqs = await chain_of(session, 5)
    await session.execute(text("ALTER TABLE audit.record DISABLE TRIGGER record_append_only"))
    await session.execute(text("DELETE FROM audit.record WHERE seq = :seq"), {"seq": seqs[1]})
    await session.execute(text("ALTER TABLE audit.record ENABLE TRIGGER record_append_only"))
    result = await verify_trail(session)
    assert [(p.seq, p.what) for p in result.problems] == [
        (seqs[1], f"deleted: row(s) {seqs[1]} missing")
    ]


async def test_the_first_rows_deleted_are_reported(session: AsyncSession) -> None:
    seqs = await chain_of(session, 3)
    await session.execute(text("SET LOCAL session_replication_role = replica"))
    await session.execute(text("DELETE FROM audit.record WHERE seq = :seq"), {"seq": seqs[0]})
    result = await verify_trail(session)
    assert [p.what for p in result.problems] == ["deleted: row(s) 1 missing"]


async def test_a_forged_row_with_a_taken_seq_is_reported(session: AsyncSession) -> None:
    """INSERT is allowed: a row copied under an existing seq, seen even at a page boundary."""
    seqs = await chain_of(session, 4)
    await session.execute(
        text(
            "INSERT INTO audit.record SELECT seq, recorded_at + interval '1 second', at, "
            "'mallory', roles, scope, source_address, service, action, resource, outcome, "
            "status, reason, before_digest, after_digest, request_id, trace_id, event_id, "
            "prev_hash, hash FROM audit.record WHERE seq = :seq"
        ),
        {"seq": seqs[1]},
    )
    result = await verify_trail(session, batch=2)
    assert [(p.seq, p.what.split(":")[0]) for p in result.problems] == [
        (seqs[1], "out of order"),
        (seqs[1], "altered"),
    ]


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit.record SET actor = 'mallory'",
        "DELETE FROM audit.record",
        "TRUNCATE audit.record",
        "UPDATE audit.record_2026_11 SET actor = 'mallory'",
        "DELETE FROM audit.record_2026_11",
        "TRUNCATE audit.record_2026_11",
        "UPDATE audit.checkpoint SET first_seq = 1",
        "DELETE FROM audit.checkpoint",
        "TRUNCATE audit.checkpoint",
    ],
)
async def test_the_trail_is_append_only_even_for_its_owner(session: AsyncSession, sql: str) -> None:
    await chain_of(session, 2)
    await session.execute(
        text("INSERT INTO audit.checkpoint (month, first_seq, prev_hash) VALUES (:m, 1, :h)"),
        {"m": datetime(2020, 1, 1, tzinfo=UTC).date(), "h": GENESIS_HASH},
    )
    error = await refused(session, sql)
    assert "the audit trail is append-only" in str(error.orig)
    assert await session.scalar(select(func.count()).select_from(AuditRecord)) == 2


async def test_the_service_role_may_read_and_append_only(session: AsyncSession) -> None:
    seqs = await chain_of(session, 2)
    async with session.begin_nested():
        await session.execute(text(f"SET LOCAL ROLE {SERVICE_ROLE}"))
        assert await session.scalar(text("SELECT current_user")) == SERVICE_ROLE
        more = await append(session, f.events(1), now=NOW)  # lock, head, checkpoint, insert
        assert more[0].seq == seqs[-1] + 1
        assert await session.scalar(select(func.count()).select_from(AuditRecord)) == 3
    for sql in (
        "UPDATE audit.record SET actor = 'mallory' WHERE seq = :seq",
        "DELETE FROM audit.record WHERE seq = :seq",
        "TRUNCATE audit.record",
        # The row lives in a partition; the partition itself grants the role nothing.
        "UPDATE audit.record_2026_11 SET actor = 'mallory' WHERE seq = :seq",
        "DELETE FROM audit.record_2026_11 WHERE seq = :seq",
        "TRUNCATE audit.record_2026_11",
        "SELECT * FROM audit.record_2026_11",
        "UPDATE audit.checkpoint SET first_seq = 1",
        "DELETE FROM audit.checkpoint",
    ):
        error = await refused(session, sql, role=SERVICE_ROLE, seq=seqs[0])
        assert sqlstate_of(error) == INSUFFICIENT_PRIVILEGE, sql
        assert "permission denied" in str(error.orig), sql
    assert (await verify_trail(session)).ok


async def test_two_writers_at_once_make_one_line(make_database: Callable[[str], str]) -> None:
    """Committed for real, from two connections: the advisory lock serializes the appends."""
    url = make_database("audit_race")
    await migrate(url, [MIGRATIONS])
    engine = engine_for(url)
    now = datetime.now(UTC)

    async def writer(name: str) -> None:
        for _ in range(15):
            async with AsyncSession(engine) as s, s.begin():
                await append(s, f.events(3, actor=name), now=datetime.now(UTC))

    try:
        await asyncio.gather(writer("alice"), writer("bob"))
        async with AsyncSession(engine) as s, s.begin():
            result = await verify_trail(s)
            seqs = (await s.scalars(select(AuditRecord.seq).order_by(AuditRecord.seq))).all()
    finally:
        await engine.dispose()
    assert result.ok, result.problems
    assert list(seqs) == list(range(1, 91))
    assert now <= datetime.now(UTC)
