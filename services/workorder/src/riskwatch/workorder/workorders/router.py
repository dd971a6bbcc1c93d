"""HTTP API of work orders: list and read them, report one by hand, take the loop's steps;
the weekly overdue bulletins.

A step the order's status does not allow answers 409 with the actions allowed now; a caller
who may not take it (not the assignee nor the unit's duty staff, not a reviewer) gets 403.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.access import Permission
from riskwatch.common.auth import Principal, require
from riskwatch.common.deps import AuditDep, CatalogDep, ReadSessionDep, SessionDep
from riskwatch.common.errors import Invalid, NotFound, problem_responses
from riskwatch.common.events.base import Level
from riskwatch.common.inputs import Key, Line
from riskwatch.common.pagination import DEFAULT_LIMIT, MAX_LIMIT
from riskwatch.workorder.loop import LoopDep
from riskwatch.workorder.workorders import service
from riskwatch.workorder.workorders.bulletin import (
    last_week,
    list_bulletins,
    publish_bulletin,
    week_starting,
)
from riskwatch.workorder.workorders.domain import (
    Accept,
    Arrive,
    Clear,
    Close,
    Command,
    Dispatch,
    EscalateTier,
    FalseAlarm,
    Feedback,
    Location,
    Reopen,
    Return,
    Review,
    Status,
    Supervise,
    Transfer,
)
from riskwatch.workorder.workorders.models import Bulletin, WorkOrder
from riskwatch.workorder.workorders.schemas import (
    ArriveBody,
    BulletinRead,
    BulletinRequest,
    ClearBody,
    DispatchBody,
    FeedbackBody,
    NoteBody,
    ReasonBody,
    ReportBody,
    SuperviseBody,
    TransferBody,
    WorkOrderDetail,
    WorkOrderEventRead,
    WorkOrderPage,
    WorkOrderRead,
)

router = APIRouter(prefix="/api/v1/workorders", tags=["workorders"])
bulletins_router = APIRouter(prefix="/api/v1/overdue-bulletins", tags=["workorders"])

Reader = Annotated[Principal, Depends(require(Permission.WORKORDERS_READ))]
Actor = Annotated[Principal, Depends(require(Permission.WORKORDERS_ACT))]
Reviewer = Annotated[Principal, Depends(require(Permission.WORKORDERS_REVIEW))]
ME = "me"


def _now() -> datetime:
    return datetime.now(UTC)


@router.get("", response_model=WorkOrderPage)
async def list_work_orders(
    session: ReadSessionDep,
    caller: Reader,
    alarm_id: Key | None = None,
    level: Level | None = None,
    status: Status | None = None,
    sector_id: Key | None = None,
    unit_id: Key | None = None,
    assignee: Annotated[Line | None, Query(max_length=255, description="a username, or me")] = None,
    overdue: Annotated[
        bool | None, Query(description="true: open and past its running stage's limit now")
    ] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> WorkOrderPage:
    """Work orders, newest first; filter by alarm, level, status, sector, unit, assignee
    (`assignee=me`: yours) or `overdue=true` (what is to be chased now)."""
    items, next_cursor = await service.list_work_orders(
        session,
        filters=service.Filters(
            alarm_id=alarm_id,
            level=level.value if level else None,
            status=status,
            sector_id=sector_id,
            unit_id=unit_id,
            assignee=caller.subject if assignee == ME else assignee,
            overdue=overdue,
        ),
        cursor=cursor,
        limit=limit,
        now=_now(),
        scope=caller.scope,
    )
    return WorkOrderPage(
        items=[WorkOrderRead.model_validate(w) for w in items], next_cursor=next_cursor
    )


@router.post("", response_model=WorkOrderDetail, status_code=201, responses=problem_responses(422))
async def report_work_order(
    body: ReportBody, session: SessionDep, caller: Actor, audit: AuditDep, loop: LoopDep
) -> WorkOrderDetail:
    """Report a work order by hand (a patrol's finding, a report from the public): it is
    dispatched by the command manual like one from an alarm."""
    order = await service.report_work_order(
        session,
        report=service.Report(
            origin=body.origin,
            scenario_id=body.scenario_id,
            level=body.level,
            town_id=body.town_id,
            village_id=body.village_id,
            title=body.title,
            description=body.description,
            lon=body.lon,
            lat=body.lat,
        ),
        loop=loop,
        principal=caller,
        now=_now(),
        audit=audit,
    )
    return await _detail(session, order)


@router.get("/{work_order_id}", response_model=WorkOrderDetail)
async def get_work_order(
    work_order_id: Key, session: ReadSessionDep, caller: Reader
) -> WorkOrderDetail:
    """One work order with the actions its status allows and its history, oldest first."""
    order = await service.get_work_order_or_raise(
        session, work_order_id=work_order_id, scope=caller.scope
    )
    return await _detail(session, order)


_STEP_PROBLEMS = problem_responses(403, 409, 422)


def _arrive(body: ArriveBody | None) -> Command:
    body = body or ArriveBody()
    where = Location(body.lon, body.lat) if body.lon is not None and body.lat is not None else None
    return Arrive(location=where, at=body.at)


@dataclass(frozen=True, slots=True)
class _Step:
    """One step of the loop over HTTP: its path, its body, the command it makes, its doc."""

    path: str
    body: type[BaseModel]
    command: Callable[[Any], Command]
    doc: str
    optional: bool = False  # the body may be left out
    # Acting on an order (the assignee, its unit's staff: checked per order); judging it is a
    # reviewer's, supervising a leader's.
    permission: Permission = Permission.WORKORDERS_ACT


_STEPS = (
    _Step(
        "dispatch",
        DispatchBody,
        lambda b: Dispatch(unit_id=b.unit_id, assignee=b.assignee),
        "Dispatch (派单) to a unit (a duty center) and optionally a person: created or returned "
        "-> dispatched. Orders from alarms are dispatched by the command manual at once.",
    ),
    _Step(
        "accept",
        NoteBody,
        lambda b: Accept(note=b.note if b else None),
        "Take the order on (接单受理): dispatched -> accepted. Stops its alarm's escalation.",
        optional=True,
    ),
    _Step(
        "return",
        ReasonBody,
        lambda b: Return(b.reason),
        "Hand it back (退单) with the reason: dispatched or accepted -> returned, to be "
        "dispatched again.",
    ),
    _Step(
        "transfer",
        TransferBody,
        lambda b: Transfer(unit_id=b.unit_id, assignee=b.assignee, reason=b.reason),
        "Pass it to another unit or person (转派): -> dispatched.",
    ),
    _Step("arrive", ArriveBody, _arrive, "On site (到场), with where: accepted -> on_site.", True),
    _Step(
        "clear",
        ClearBody,
        lambda b: Clear(b.note, b.at),
        "Disposed and cleared (处置销警): on_site -> cleared; alerting clears the alarm.",
    ),
    _Step(
        "feedback",
        FeedbackBody,
        lambda b: Feedback(b.fields),
        "The closure data (闭环反馈): cleared -> feedback. Data that is missing, irregular or "
        "illogical is flagged (quality_problems) and the order goes back to cleared for "
        "correction.",
    ),
    _Step(
        "review",
        NoteBody,
        lambda b: Review(note=b.note if b else None),
        "Review the closure data: feedback -> reviewed (checked again: a failing order goes "
        "back to the handler).",
        optional=True,
        permission=Permission.WORKORDERS_REVIEW,
    ),
    _Step(
        "close",
        NoteBody,
        lambda b: Close(note=b.note if b else None),
        "Close the loop: reviewed -> closed.",
        optional=True,
    ),
    _Step(
        "false-alarm",
        ReasonBody,
        lambda b: FalseAlarm(b.reason),
        "A false alarm (误报): closes the order; the alarm is cleared as false and counted per "
        "rule in the monthly report.",
    ),
    _Step(
        "reopen",
        ReasonBody,
        lambda b: Reopen(b.reason),
        "Reopen a closed order (a reviewer): closed -> dispatched.",
        permission=Permission.WORKORDERS_REVIEW,
    ),
    _Step(
        "supervise",
        SuperviseBody,
        lambda b: Supervise(note=b.note, deadline=b.deadline),
        "Supervise (督办): a leader's note with a new deadline for the running stage; its "
        "reminder and overdue timers start again. Timeliness is still judged by the manual.",
        permission=Permission.WORKORDERS_SUPERVISE,
    ),
    _Step(
        "escalate-tier",
        ReasonBody,
        lambda b: EscalateTier(b.reason),
        "Raise the loop's tier (small -> medium -> big): the next level is notified.",
        permission=Permission.WORKORDERS_REVIEW,
    ),
)


def _route(step: _Step) -> None:
    async def endpoint(
        work_order_id: Key,
        session: SessionDep,
        caller: Principal,
        audit: AuditDep,
        loop: LoopDep,
        body: Any = None,
    ) -> WorkOrderDetail:
        order = await service.act(
            session,
            work_order_id=work_order_id,
            command=step.command(body),
            principal=caller,
            loop=loop,
            now=_now(),
            audit=audit,
        )
        return await _detail(session, order)

    # FastAPI reads the body's model and the caller's permission from the signature.
    signature = inspect.signature(endpoint)
    parameters = dict(signature.parameters)
    parameters["caller"] = parameters["caller"].replace(
        annotation=Annotated[Principal, Depends(require(step.permission))]
    )
    parameters["body"] = parameters["body"].replace(
        annotation=step.body | None if step.optional else step.body,
        default=None if step.optional else inspect.Parameter.empty,
    )
    endpoint.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=list(parameters.values())
    )
    endpoint.__name__ = step.path.replace("-", "_")
    endpoint.__doc__ = step.doc
    router.post(
        f"/{{work_order_id}}/{step.path}",
        response_model=WorkOrderDetail,
        responses=_STEP_PROBLEMS,
        name=endpoint.__name__,
    )(endpoint)


for _step in _STEPS:
    _route(_step)


async def _detail(session: AsyncSession, order: WorkOrder) -> WorkOrderDetail:
    history = await service.list_history(session, work_order_id=order.work_order_id)
    read = WorkOrderRead.model_validate(order)
    state = order.state()
    return WorkOrderDetail(
        **read.model_dump(),
        stage=state.stage,
        allowed_actions=list(state.allowed),
        history=[WorkOrderEventRead.model_validate(h) for h in history],
    )


@bulletins_router.get("", response_model=list[BulletinRead])
async def bulletins(
    session: ReadSessionDep,
    caller: Reviewer,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> list[BulletinRead]:
    """The weekly overdue bulletins (超时处置通报), newest week first."""
    return [BulletinRead.model_validate(b) for b in await list_bulletins(session, limit=limit)]


@bulletins_router.get("/{bulletin_id}", response_model=BulletinRead)
async def bulletin(bulletin_id: Key, session: ReadSessionDep, caller: Reviewer) -> BulletinRead:
    found = await session.get(Bulletin, bulletin_id)
    if found is None:
        raise NotFound(f"No bulletin {bulletin_id!r}.")
    return BulletinRead.model_validate(found)


@bulletins_router.post("", response_model=BulletinRead, responses=problem_responses(422))
async def publish(
    session: SessionDep,
    caller: Reviewer,
    catalog: CatalogDep,
    body: BulletinRequest | None = None,
) -> BulletinRead:
    """Publish a week's bulletin now (each Monday's is published by itself): the week of
    `week_of`, by default the last full week. A week's bulletin is published once; asking
    again returns it."""
    now = _now()
    tz = catalog.district.zone
    start, end = week_starting(body.week_of, tz) if body and body.week_of else last_week(now, tz)
    if end > now:
        # Published once per week: a week in progress would stand in for its full bulletin.
        raise Invalid(f"The week of {start.date()} is not over before {end.isoformat()}.")
    row, _ = await publish_bulletin(
        session, week_start=start, week_end=end, now=now, actor=caller.subject
    )
    return BulletinRead.model_validate(row)
