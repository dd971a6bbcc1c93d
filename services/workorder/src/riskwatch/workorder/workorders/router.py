"""HTTP API of work orders: read them, and accept, dispose and close them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.access import Permission
from riskwatch.common.auth import Principal, require
from riskwatch.common.deps import AuditDep, ReadSessionDep, SessionDep
from riskwatch.common.errors import problem_responses
from riskwatch.common.events.base import Level
from riskwatch.common.inputs import Key
from riskwatch.common.pagination import DEFAULT_LIMIT, MAX_LIMIT
from riskwatch.workorder.workorders import service
from riskwatch.workorder.workorders.domain import Status
from riskwatch.workorder.workorders.models import WorkOrder
from riskwatch.workorder.workorders.schemas import (
    WorkOrderAccept,
    WorkOrderClose,
    WorkOrderDetail,
    WorkOrderDispose,
    WorkOrderEventRead,
    WorkOrderPage,
    WorkOrderRead,
)

router = APIRouter(prefix="/api/v1/workorders", tags=["workorders"])

Reader = Annotated[Principal, Depends(require(Permission.WORKORDERS_READ))]
Actor = Annotated[Principal, Depends(require(Permission.WORKORDERS_ACT))]


@router.get("", response_model=WorkOrderPage)
async def list_work_orders(
    session: ReadSessionDep,
    caller: Reader,
    alarm_id: Key | None = None,
    level: Level | None = None,
    status: Status | None = None,
    sector_id: Key | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> WorkOrderPage:
    """Work orders, newest first; filter by alarm, level, status or sector."""
    items, next_cursor = await service.list_work_orders(
        session,
        alarm_id=alarm_id,
        level=level.value if level else None,
        status=status,
        sector_id=sector_id,
        cursor=cursor,
        limit=limit,
        scope=caller.scope,
    )
    return WorkOrderPage(
        items=[WorkOrderRead.model_validate(w) for w in items], next_cursor=next_cursor
    )


@router.get("/{work_order_id}", response_model=WorkOrderDetail)
async def get_work_order(
    work_order_id: Key, session: ReadSessionDep, caller: Reader
) -> WorkOrderDetail:
    """One work order with its history, oldest entry first."""
    order = await service.get_work_order_or_raise(
        session, work_order_id=work_order_id, scope=caller.scope
    )
    return await _detail(session, order)


# A step the order's status does not allow (closing it twice, disposing an open one) is a 409.
_STEP_PROBLEMS = problem_responses(409)


@router.post("/{work_order_id}/accept", response_model=WorkOrderDetail, responses=_STEP_PROBLEMS)
async def accept_work_order(
    work_order_id: Key,
    session: SessionDep,
    principal: Actor,
    audit: AuditDep,
    body: WorkOrderAccept | None = None,
) -> WorkOrderDetail:
    """Take the work order on (接单受理): open -> accepted."""
    order = await service.accept_work_order(
        session,
        work_order_id=work_order_id,
        actor=principal.subject,
        note=body.note if body else None,
        scope=principal.scope,
        audit=audit,
    )
    return await _detail(session, order)


@router.post("/{work_order_id}/dispose", response_model=WorkOrderDetail, responses=_STEP_PROBLEMS)
async def dispose_work_order(
    work_order_id: Key,
    body: WorkOrderDispose,
    session: SessionDep,
    principal: Actor,
    audit: AuditDep,
) -> WorkOrderDetail:
    """Record the disposal (处置): accepted -> disposed."""
    order = await service.dispose_work_order(
        session,
        work_order_id=work_order_id,
        actor=principal.subject,
        note=body.note,
        scope=principal.scope,
        audit=audit,
    )
    return await _detail(session, order)


@router.post("/{work_order_id}/close", response_model=WorkOrderDetail, responses=_STEP_PROBLEMS)
async def close_work_order(
    work_order_id: Key,
    body: WorkOrderClose,
    session: SessionDep,
    principal: Actor,
    audit: AuditDep,
) -> WorkOrderDetail:
    """Close the loop with feedback (闭环反馈): accepted or disposed -> closed. The alarm is
    cleared by alerting when it sees the event."""
    order = await service.close_work_order(
        session,
        work_order_id=work_order_id,
        actor=principal.subject,
        feedback=body.feedback,
        scope=principal.scope,
        audit=audit,
    )
    return await _detail(session, order)


async def _detail(session: AsyncSession, order: WorkOrder) -> WorkOrderDetail:
    history = await service.list_history(session, work_order_id=order.work_order_id)
    read = WorkOrderRead.model_validate(order)
    return WorkOrderDetail(
        **read.model_dump(), history=[WorkOrderEventRead.model_validate(h) for h in history]
    )
