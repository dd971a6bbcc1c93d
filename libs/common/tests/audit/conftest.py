"""Fixtures of the audit trail's tests: its schema migrated on the session's real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.audit.module import MIGRATIONS
from riskwatch.common.testing import engine_for, migrate, rolled_back_session


@pytest.fixture(scope="session")
async def audit_db(make_database: Callable[[str], str]) -> str:
    url = make_database("audit")
    await migrate(url, [MIGRATIONS])
    return url


@pytest.fixture
async def session(audit_db: str) -> AsyncIterator[AsyncSession]:
    engine = engine_for(audit_db)
    async with rolled_back_session(engine) as s:
        yield s
    await engine.dispose()
