"""Fixtures of the ingest tests: a migrated database on the session's real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common.cli import IDENTITY_MIGRATIONS
from riskwatch.common.testing import engine_for, migrate, rolled_back_session
from riskwatch.ingest.module import MIGRATIONS


@pytest.fixture(scope="session")
async def ingest_db(make_database: Callable[[str], str]) -> str:
    url = make_database("ingest")
    await migrate(url, [MIGRATIONS, IDENTITY_MIGRATIONS])
    return url


@pytest.fixture
async def session(ingest_db: str) -> AsyncIterator[AsyncSession]:
    engine = engine_for(ingest_db)
    async with rolled_back_session(engine) as s:
        yield s
    await engine.dispose()


@pytest.fixture(scope="session")
async def committed_db(make_database: Callable[[str], str]) -> str:
    """A migrated database whose tests commit (unique device ids per test): what background
    parts (MQTT's sync and subscriber, the inbound consumer) read from their own connections,
    as in production."""
    url = make_database("ingest_committed")
    await migrate(url, [MIGRATIONS, IDENTITY_MIGRATIONS])
    return url


@pytest.fixture
async def sessions(committed_db: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = engine_for(committed_db)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()
