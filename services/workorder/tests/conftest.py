"""Fixtures of the workorder tests: a migrated database on the session's real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.testing import migrate, rolled_back_session, test_engine
from riskwatch.workorder.module import MIGRATIONS


@pytest.fixture(scope="session")
async def workorder_db(make_database: Callable[[str], str]) -> str:
    url = make_database("workorder")
    await migrate(url, [MIGRATIONS])
    return url


@pytest.fixture
async def session(workorder_db: str) -> AsyncIterator[AsyncSession]:
    engine = test_engine(workorder_db)
    async with rolled_back_session(engine) as s:
        yield s
    await engine.dispose()
