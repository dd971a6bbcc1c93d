"""The classification against a real PostgreSQL: what SQLAlchemy and asyncpg actually raise
when the server drops a connection, and when a statement fails on its own."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from riskwatch.common.retry import failure_reason, is_transient


async def test_a_terminated_connection_is_transient_and_a_bad_statement_is_not(
    engine: AsyncEngine, contract_db: str
) -> None:
    other = create_async_engine(contract_db)
    try:
        async with engine.connect() as victim:
            pid = await victim.scalar(text("SELECT pg_backend_pid()"))
            async with other.connect() as killer:
                await killer.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            with pytest.raises(DBAPIError) as dropped:
                await victim.execute(text("SELECT 1"))
        assert is_transient(dropped.value), repr(dropped.value)

        async with engine.connect() as conn:
            with pytest.raises(DBAPIError) as bad:
                await conn.execute(text("SELECT 1 / 0"))
        assert not is_transient(bad.value)
        reason = failure_reason(bad.value)
        assert "SQLSTATE 22012" in reason
        assert "SELECT" not in reason
    finally:
        await other.dispose()
