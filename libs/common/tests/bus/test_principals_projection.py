"""The accounts projection on a real PostgreSQL, fed by a consumer on the in-process bus
(ADR 0015): a redelivered snapshot is processed once (inbox), an older one arriving after a
newer one changes nothing, a batch may hold one account several times; and the account cache
in front of it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import MetaData, func, select
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from riskwatch.common.bus import MemoryBus, record_for, subscribe
from riskwatch.common.events.envelope import Envelope, new_event
from riskwatch.common.events.identity import AccountChanged
from riskwatch.common.events.topics import ACCOUNTS
from riskwatch.common.inbox import Inbox
from riskwatch.common.principals import AccountCache, AccountState, Principals
from riskwatch.common.testing import eventually

metadata = MetaData(schema="accounts_test")
principals = Principals(metadata)
inbox = Inbox(metadata)
GROUP = "test.accounts"
T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
async def projection_db(make_database: Callable[[str], str]) -> str:
    url = make_database("principals")
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.exec_driver_sql("CREATE SCHEMA IF NOT EXISTS accounts_test")
        await conn.run_sync(metadata.create_all)
    await engine.dispose()
    return url


@pytest.fixture
async def engine(projection_db: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(projection_db)
    async with engine.begin() as conn:
        for table in (principals.table, inbox.table):
            await conn.execute(table.delete())
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def snapshot(
    username: str = "li",
    *,
    epoch: int = 0,
    at: datetime = T0,
    roles: tuple[str, ...] = ("handler",),
    disabled: bool = False,
) -> Envelope[AccountChanged]:
    event = AccountChanged(
        username=username,
        roles=list(roles),
        scope="town:huamu",
        disabled=disabled,
        session_epoch=epoch,
        changed_at=at,
    )
    return new_event(event, source="/riskwatch/identity", subject=username)


async def stored(sessions: async_sessionmaker[AsyncSession], username: str) -> AccountState | None:
    async with sessions() as session:
        return await principals.get(session, username=username)


async def test_the_consumer_keeps_the_newest_snapshot_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    bus = MemoryBus(default_partitions=2)
    applied: list[int] = []
    consumer = subscribe(
        bus,
        group=GROUP,
        topics=[ACCOUNTS],
        handler=inbox.batch_handler(
            sessions,
            group=GROUP,
            handle=principals.handle,
            after_commit=lambda: applied.append(1),
        ),
    )
    await consumer.start()
    try:
        created = snapshot(epoch=0, at=T0)
        disabled = snapshot(epoch=1, at=T0 + timedelta(minutes=1), disabled=True)
        late = snapshot(epoch=0, at=T0 + timedelta(minutes=2), roles=("leader",))
        # Created, disabled, the creation redelivered, then a stale snapshot of epoch 0 that
        # a slow replica staged later: only the disabling stands.
        await bus.publish([record_for(ACCOUNTS, e) for e in (created, disabled, created, late)])

        async def disabled_now() -> bool:
            found = await stored(sessions, "li")
            return found is not None and found.disabled

        await eventually(disabled_now, timeout=10)
        await eventually(lambda: _claimed(sessions, 3), timeout=10)
        found = await stored(sessions, "li")
        assert found is not None
        assert (found.session_epoch, found.roles, found.disabled) == (1, ("handler",), True)
        assert (found.scope, found.changed_at) == ("town:huamu", T0 + timedelta(minutes=1))
        assert applied  # the process's cache is told after each commit
    finally:
        await consumer.stop()


async def _claimed(sessions: async_sessionmaker[AsyncSession], count: int) -> bool:
    async with sessions() as session:
        found = await session.scalar(select(func.count()).select_from(inbox.table))
    return found == count


async def test_one_batch_may_hold_an_account_several_times(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """One statement per batch: the newest of each account goes in, in any order."""
    events = [
        snapshot("wang", epoch=2, at=T0 + timedelta(seconds=2)),
        snapshot("wang", epoch=1, at=T0 + timedelta(seconds=1)),
        snapshot("zhao", epoch=0, at=T0),
        snapshot("wang", epoch=2, at=T0 + timedelta(seconds=3), roles=("leader",)),
    ]
    async with sessions() as session, session.begin():
        await principals.handle(session, list(events))
    wang, zhao = await stored(sessions, "wang"), await stored(sessions, "zhao")
    assert wang is not None
    assert zhao is not None
    assert (wang.session_epoch, wang.roles) == (2, ("leader",))
    # A later batch with an older snapshot leaves the row alone.
    async with sessions() as session, session.begin():
        await principals.handle(session, [snapshot("wang", epoch=1, at=T0 + timedelta(hours=1))])
    assert await stored(sessions, "wang") == wang


async def test_the_cache_answers_until_it_is_cleared_or_stale(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    now = [100.0]
    cache = AccountCache(principals, sessions, ttl_s=1.0, clock=lambda: now[0])
    assert await cache.get("chen") is None  # a miss, remembered
    async with sessions() as session, session.begin():
        await principals.apply(session, [AccountState.of(snapshot("chen").data)])
    assert await cache.get("chen") is None  # within ttl_s: still the miss
    now[0] += 1.5
    found = await cache.get("chen")
    assert found is not None
    assert found.roles == ("handler",)

    async with sessions() as session, session.begin():
        await principals.apply(
            session, [AccountState.of(snapshot("chen", epoch=1, disabled=True).data)]
        )
    cache.clear()  # what the consumer does after its commit: no wait for the ttl
    found = await cache.get("chen")
    assert found is not None
    assert found.disabled
