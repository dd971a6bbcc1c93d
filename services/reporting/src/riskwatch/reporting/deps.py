"""FastAPI dependencies of the reporting service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession


async def snapshot_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A read-only session on one REPEATABLE READ snapshot: a report reads several tables while
    consumers keep writing, and its sections must describe the same instant."""
    async with request.app.state.sessions() as session:
        await session.connection(
            execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        )
        yield session


SnapshotSessionDep = Annotated[AsyncSession, Depends(snapshot_session)]


def now() -> datetime:
    """The instant a report is generated at: a dependency, so tests can set the clock."""
    return datetime.now(UTC)


NowDep = Annotated[datetime, Depends(now)]
