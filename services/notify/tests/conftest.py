"""Fixtures of the notify tests: a migrated database on the session's real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from riskwatch.common.testing import engine_for, migrate, rolled_back_session
from riskwatch.notify.module import MIGRATIONS


@pytest.fixture(scope="session")
async def notify_db(make_database: Callable[[str], str]) -> str:
    url = make_database("notify")
    await migrate(url, [MIGRATIONS])
    return url


@pytest.fixture
async def session(notify_db: str) -> AsyncIterator[AsyncSession]:
    engine = engine_for(notify_db)
    async with rolled_back_session(engine) as s:
        yield s
    await engine.dispose()


@pytest.fixture
async def sessions(notify_db: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A session factory for code that opens its own transactions (the dispatcher, the demo
    seed): every session joins one outer transaction, rolled back at the end."""
    engine = engine_for(notify_db)
    async with engine.connect() as conn:
        outer = await conn.begin()
        yield async_sessionmaker(
            bind=conn, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        if outer.is_active:
            await outer.rollback()
    await engine.dispose()


@pytest.fixture
async def committing_sessions(
    make_database: Callable[[str], str],
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on a database of their own that commit for real, each on its own connection:
    for what runs concurrently (two dispatchers, a heartbeat beside the sends)."""
    url = make_database("notify_concurrent")
    await migrate(url, [MIGRATIONS])
    engine = create_async_engine(url)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()
