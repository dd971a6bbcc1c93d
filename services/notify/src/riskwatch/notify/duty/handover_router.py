"""HTTP API of handovers (交接班): write one for a duty center, list them, take one over."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status

from riskwatch.common.access import Permission
from riskwatch.common.auth import Principal, require
from riskwatch.common.deps import AuditDep, ReadSessionDep, SessionDep
from riskwatch.common.errors import problem_responses
from riskwatch.common.inputs import Key, Line
from riskwatch.common.pagination import DEFAULT_LIMIT, MAX_LIMIT
from riskwatch.notify.duty import handover as service
from riskwatch.notify.duty.handover_schemas import HandoverCreate, HandoverPage, HandoverRead
from riskwatch.notify.duty.models import Handover
from riskwatch.notify.duty.service import get_duty_center_or_raise

router = APIRouter(tags=["duty"])

Reader = Annotated[Principal, Depends(require(Permission.DUTY_READ))]
Actor = Annotated[Principal, Depends(require(Permission.DUTY_ACT))]


def _audited(handover: Handover) -> dict[str, Any]:
    return HandoverRead.model_validate(handover).model_dump(mode="json")


@router.post(
    "/api/v1/duty-centers/{duty_center_id}/handovers",
    response_model=HandoverRead,
    status_code=status.HTTP_201_CREATED,
    # 403: the caller is not a member of the center.
    responses=problem_responses(403),
)
async def write_handover(
    duty_center_id: Key,
    body: HandoverCreate,
    session: SessionDep,
    principal: Actor,
    audit: AuditDep,
) -> HandoverRead:
    """The caller, a member of the center, hands over: a note, and the center's open alarms
    and work orders as they are now, attached. `to_person_id` names the incoming member."""
    center = await get_duty_center_or_raise(
        session, duty_center_id=duty_center_id, scope=principal.scope
    )
    handover = await service.write_handover(
        session,
        center=center,
        from_person_id=principal.subject,
        to_person_id=body.to_person_id,
        note=body.note,
        now=datetime.now(UTC),
    )
    if audit is not None:
        audit.changed(None, _audited(handover))
    return HandoverRead.model_validate(handover)


@router.get("/api/v1/duty-centers/{duty_center_id}/handovers", response_model=HandoverPage)
async def list_handovers(
    duty_center_id: Key,
    session: ReadSessionDep,
    caller: Reader,
    cursor: Line | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> HandoverPage:
    """A center's handovers, newest first."""
    center = await get_duty_center_or_raise(
        session, duty_center_id=duty_center_id, scope=caller.scope
    )
    items, next_cursor = await service.list_handovers(
        session, duty_center_id=center.duty_center_id, cursor=cursor, limit=limit
    )
    return HandoverPage(
        items=[HandoverRead.model_validate(h) for h in items], next_cursor=next_cursor
    )


@router.post(
    "/api/v1/handovers/{handover_id}/acknowledge",
    response_model=HandoverRead,
    # 403: the caller is not the incoming person.
    responses=problem_responses(403),
)
async def acknowledge_handover(
    handover_id: Key, session: SessionDep, principal: Actor, audit: AuditDep
) -> HandoverRead:
    """The incoming person takes over: the one named, or, when none was, any member of the
    center but the writer. Acknowledging twice answers the same."""
    handover = await service.acknowledge_handover(
        session,
        handover_id=handover_id,
        by=principal.subject,
        now=datetime.now(UTC),
        scope=principal.scope,
    )
    if audit is not None:
        audit.changed(
            None,
            {
                "acknowledged_by": handover.acknowledged_by,
                "acknowledged_at": handover.acknowledged_at,
            },
        )
    return HandoverRead.model_validate(handover)
