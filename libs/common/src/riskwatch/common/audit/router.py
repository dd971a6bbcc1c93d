"""HTTP API of the audit trail: the audit administrator's only, and every read is recorded."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from riskwatch.common.access import Permission
from riskwatch.common.audit import emit, service
from riskwatch.common.audit.models import SCHEMA
from riskwatch.common.audit.schemas import AuditPage, AuditRecordRead
from riskwatch.common.audit.store import Filters
from riskwatch.common.auth import Principal, require
from riskwatch.common.deps import SessionDep
from riskwatch.common.errors import Forbidden, problem_responses
from riskwatch.common.events.audit import AuditOutcome
from riskwatch.common.inputs import Key, UtcDatetime
from riskwatch.common.pagination import DEFAULT_LIMIT, MAX_LIMIT

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])

Auditor = Annotated[Principal, Depends(require(Permission.AUDIT_READ))]


@router.get("", response_model=AuditPage, responses=problem_responses(403))
async def list_audit_records(
    request: Request,
    caller: Auditor,
    session: SessionDep,
    actor: Key | None = None,
    action: Key | None = None,
    outcome: AuditOutcome | None = None,
    service_name: Annotated[Key | None, Query(alias="service")] = None,
    resource: Annotated[
        Key | None, Query(description="Records whose resource starts with this.")
    ] = None,
    since: Annotated[
        UtcDatetime | None, Query(alias="from", description="When it happened, from (inclusive)")
    ] = None,
    until: Annotated[
        UtcDatetime | None, Query(alias="to", description="When it happened, to (exclusive)")
    ] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> AuditPage:
    """The audit trail, newest first (by its chain order); this read is recorded in it too."""
    if not caller.scope.is_district:
        # The trail spans the whole platform; it is not cut by organisation.
        await emit.deny(
            request, caller, reason=f"the audit trail is read at district scope, not {caller.scope}"
        )
        raise Forbidden("The audit trail is read at district scope.")
    query = request.url.query
    read = emit.record(
        service=SCHEMA,
        action="audit.read",
        outcome="success",
        principal=caller,
        request=request,
        resource=f"audit?{query}" if query else "audit",
        status=200,
    )
    items, next_cursor = await service.read_trail(
        session,
        filters=Filters(
            actor=actor,
            action=action,
            outcome=outcome,
            service=service_name,
            resource_prefix=resource,
            since=since,
            until=until,
        ),
        cursor=cursor,
        limit=limit,
        read=read,
        now=datetime.now(UTC),
    )
    return AuditPage(
        items=[AuditRecordRead.model_validate(r) for r in items], next_cursor=next_cursor
    )
