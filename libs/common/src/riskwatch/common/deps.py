"""FastAPI dependencies every service uses: a transactional session, the runtime, the catalog,
the caller. Annotated aliases keep route signatures short."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.app import Runtime
from riskwatch.common.catalog import Catalog
from riskwatch.common.settings import ServiceSettings


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


S = TypeVar("S", bound=ServiceSettings)


def settings_dependency(name: str, cls: type[S]) -> Callable[[Request], S]:
    """A dependency giving a route its own service's settings, also when several services
    share one app (embedded mode)."""

    def dependency(request: Request) -> S:
        settings = request.app.state.service_settings[name]
        if not isinstance(settings, cls):
            raise TypeError(
                f"settings of {name} are a {type(settings).__name__}, not {cls.__name__}"
            )
        return settings

    return dependency
