"""FastAPI dependencies every service uses: a transactional session, the runtime, the catalog,
the caller. Annotated aliases keep route signatures short."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.app import Runtime
from riskwatch.common.catalog import Catalog


async def session_in_transaction(request: Request) -> AsyncIterator[AsyncSession]:
    """One session and one transaction per request, committed when the handler returns."""
    async with request.app.state.sessions() as session, session.begin():
        yield session


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def catalog(request: Request) -> Catalog:
    cat: Catalog = request.app.state.catalog
    return cat


# scope="function": the commit happens before the response is sent, so a failed commit is an
# error response, never a 2xx for a change that did not happen.
SessionDep = Annotated[AsyncSession, Depends(session_in_transaction, scope="function")]
RuntimeDep = Annotated[Runtime, Depends(runtime)]
CatalogDep = Annotated[Catalog, Depends(catalog)]


async def session_readonly(request: Request) -> AsyncIterator[AsyncSession]:
    """A session for reads: nothing to commit, and it never holds a transaction open long."""
    async with request.app.state.sessions() as session:
        yield session


ReadSessionDep = Annotated[AsyncSession, Depends(session_readonly)]
