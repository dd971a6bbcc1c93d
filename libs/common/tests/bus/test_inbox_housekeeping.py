"""The processed-event table is pruned past the redelivery horizon, and only past it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common.periodic import Periodic
from riskwatch.common.testing import eventually

from ..conftest import inbox


async def test_prune_forgets_only_old_event_ids(sessions: async_sessionmaker[AsyncSession]) -> None:
    now = datetime.now(UTC)
    async with sessions() as session, session.begin():
        await session.execute(
            inbox.table.insert(),
            [
                {"consumer_group": "g", "event_id": "old", "processed_at": now - timedelta(days=9)},
                {
                    "consumer_group": "g",
                    "event_id": "recent",
                    "processed_at": now - timedelta(days=6),
                },
            ],
        )
    async with sessions() as session, session.begin():
        removed = await inbox.prune(session, older_than=timedelta(days=8))
    assert removed == 1
    async with sessions() as session:
        left = (await session.scalars(select(inbox.table.c.event_id))).all()
        assert list(left) == ["recent"]
        # A redelivery of the recent event is still recognised.
        assert not await inbox.claim(session, group="g", event_ids=["recent"])


async def test_periodic_runs_survive_a_failing_round_and_stop_promptly() -> None:
    calls: list[int] = []

    async def job() -> None:
        calls.append(len(calls))
        if len(calls) == 1:
            raise RuntimeError("first round fails")

    periodic = Periodic("t", job, interval_s=0.01, run_at_start=True)
    await periodic.start()

    async def three_rounds() -> bool:
        return len(calls) >= 3

    await eventually(three_rounds, timeout=10)
    assert periodic.running
    await periodic.stop(timeout=5)
    assert not periodic.running
