"""Fixtures of the alerting tests: a migrated database on the session's real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.alerting.module import MIGRATIONS
from riskwatch.common.testing import engine_for, migrate, rolled_back_session


@pytest.fixture(scope="session")
async def alerting_db(make_database: Callable[[str], str]) -> str:
    url = make_database("alerting")
    await migrate(url, [MIGRATIONS])
    return url


@pytest.fixture
async def session(alerting_db: str) -> AsyncIterator[AsyncSession]:
    engine = engine_for(alerting_db)
    async with rolled_back_session(engine) as s:
        yield s
    await engine.dispose()
