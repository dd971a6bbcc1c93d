"""Producing audit records.

A successful write is recorded in its own transaction, through the service's outbox: the record
exists exactly when the change does. A refusal (401, 403, 429) or a failed write has no
transaction to join; it is published at once, and a bus that cannot take it is logged, never
turned into an error for the caller.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson
import structlog
from fastapi import Request
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.bus.base import Record
from riskwatch.common.events.audit import AuditOutcome, AuditRecorded
from riskwatch.common.events.envelope import encode, new_event
from riskwatch.common.events.topics import AUDIT
from riskwatch.common.tracing import current_traceparent, trace_id_of

if TYPE_CHECKING:
    from riskwatch.common.auth import Principal
    from riskwatch.common.outbox import Outbox

log = structlog.get_logger(__name__)

ANONYMOUS = "anonymous"
# A refusal is answered after at most this wait on a bus that does not take its record.
PUBLISH_TIMEOUT_S = 2.0


def digest(value: Any) -> str | None:
    """SHA-256 of a value's canonical JSON (sorted keys); None for None."""
    if value is None:
        return None
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    raw = orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(raw).hexdigest()


@dataclass(slots=True)
class AuditContext:
    """What a write route tells the trail beyond the request itself: the resource's state
    before and after. Set on `request.state.audit` by `auth.require` for write permissions."""

    action: str
    resource: str | None = None
    before_digest: str | None = None
    after_digest: str | None = None

    def changed(self, before: Any, after: Any) -> None:
        self.before_digest = digest(before)
        self.after_digest = digest(after)


def client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


def record(
    *,
    service: str,
    action: str,
    outcome: AuditOutcome,
    principal: Principal | None = None,
    actor: str | None = None,
    request: Request | None = None,
    resource: str | None = None,
    status: int | None = None,
    reason: str | None = None,
    before_digest: str | None = None,
    after_digest: str | None = None,
    now: datetime | None = None,
) -> AuditRecorded:
    state = request.state if request is not None else None
    return AuditRecorded(
        at=now or datetime.now(UTC),
        actor=(principal.subject if principal else actor or ANONYMOUS)[:64],
        roles=list(principal.roles) if principal else [],
        scope=str(principal.scope) if principal else None,
        source_address=client_address(request) if request is not None else None,
        service=service,
        action=action,
        resource=resource[:255] if resource else None,
        outcome=outcome,
        status=status,
        reason=reason[:255] if reason else None,
        before_digest=before_digest,
        after_digest=after_digest,
        request_id=(getattr(state, "request_id", None) or None) if state else None,
        trace_id=trace_id_of(current_traceparent.get()),
    )


async def stage(session: AsyncSession, outbox: Outbox, entry: AuditRecorded) -> None:
    """Stage `entry` in the caller's transaction."""
    envelope = new_event(entry, source=f"/riskwatch/{entry.service}", subject=entry.actor)
    await outbox.add(session, AUDIT, envelope, key=entry.actor)


async def publish_now(request: Request, entry: AuditRecorded) -> None:
    """Publish `entry` outside any transaction (a refusal, a failed write)."""
    runtime = getattr(request.app.state, "runtime", None)
    if runtime is None:  # the app is not started (a unit test of a router)
        return
    envelope = new_event(entry, source=f"/riskwatch/{entry.service}", subject=entry.actor)
    headers, value = encode(envelope)
    try:
        async with asyncio.timeout(PUBLISH_TIMEOUT_S):
            await runtime.bus.publish([Record(AUDIT, entry.actor, value, headers)])
    except Exception as exc:  # the caller's answer must not depend on the trail
        log.error(
            "audit_publish_failed",
            action=entry.action,
            actor=entry.actor,
            error_type=type(exc).__name__,
        )


async def deny(request: Request, principal: Principal, *, reason: str) -> None:
    """Record that `principal` was refused this request (403)."""
    entry = record(
        service=request.app.state.settings.service_name,
        action="access.denied",
        outcome="denied",
        principal=principal,
        request=request,
        resource=f"{request.method} {request.url.path.removeprefix('/api/v1/')}",
        status=403,
        reason=reason,
    )
    await publish_now(request, entry)


def bind_outbox(outbox: Outbox | None) -> Callable[[Request], None]:
    """A router dependency telling a module's write routes where their audit records go."""

    def bind(request: Request) -> None:
        request.state.audit_outbox = outbox

    return bind
