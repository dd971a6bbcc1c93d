"""FastAPI dependencies every service uses: a transactional session, the runtime, the catalog,
the caller. Annotated aliases keep route signatures short."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.app import Runtime
from riskwatch.common.audit import emit as audit
from riskwatch.common.catalog import Catalog
from riskwatch.common.errors import AppError
from riskwatch.common.outbox import Outbox
from riskwatch.common.settings import ServiceSettings


async def session_in_transaction(request: Request) -> AsyncIterator[AsyncSession]:
    """One session and one transaction per request, committed when the handler returns.

    A write the caller was allowed (`auth.require`) is recorded in the audit trail: in this
    transaction when it succeeds, at once when it fails."""
    async with request.app.state.sessions() as session:
        try:
            async with session.begin():
                yield session
                await _stage_audit(request, session)
        except Exception as exc:  # not a cancellation: a dropped client's task awaits nothing
            await _audit_failure(request, exc)
            raise


async def _stage_audit(request: Request, session: AsyncSession) -> None:
    context: audit.AuditContext | None = getattr(request.state, "audit", None)
    outbox: Outbox | None = getattr(request.state, "audit_outbox", None)
    if context is None:
        return
    if outbox is None:
        raise RuntimeError(f"{context.action}: a write route of a module without an outbox")
    entry = audit.record(
        service=outbox.schema,
        action=context.action,
        outcome="success",
        principal=getattr(request.state, "principal", None),
        request=request,
        resource=context.resource,
        before_digest=context.before_digest,
        after_digest=context.after_digest,
    )
    await audit.stage(session, outbox, entry)


async def _audit_failure(request: Request, exc: Exception) -> None:
    context: audit.AuditContext | None = getattr(request.state, "audit", None)
    if context is None:
        return
    outbox: Outbox | None = getattr(request.state, "audit_outbox", None)
    status = exc.status if isinstance(exc, AppError) else 422 if _is_validation(exc) else 500
    entry = audit.record(
        service=outbox.schema if outbox else request.app.state.settings.service_name,
        action=context.action,
        outcome="failure",
        principal=getattr(request.state, "principal", None),
        request=request,
        resource=context.resource,
        status=status,
        reason=exc.code if isinstance(exc, AppError) else type(exc).__name__,
    )
    await audit.publish_now(request, entry)


def _is_validation(exc: Exception) -> bool:
    return isinstance(exc, RequestValidationError)


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


def audit_context(request: Request) -> audit.AuditContext | None:
    """The request's audit context, opened by `auth.require` on a write; declare it after the
    route's permission so that it exists."""
    context: audit.AuditContext | None = getattr(request.state, "audit", None)
    return context


AuditDep = Annotated[audit.AuditContext | None, Depends(audit_context)]


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
