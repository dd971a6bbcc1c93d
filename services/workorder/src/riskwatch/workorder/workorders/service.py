"""Use cases of work orders: open one per alarm, follow its escalation, move it through
accept -> dispose -> close. Callers own the transaction; every event goes to the outbox in it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.access import DISTRICT, Scope
from riskwatch.common.audit.emit import AuditContext
from riskwatch.common.errors import InvalidState, NotFound
from riskwatch.common.events import EventPayload, Level, new_event
from riskwatch.common.events.alarms import AlarmSnapshot
from riskwatch.common.events.topics import WORKORDERS
from riskwatch.common.events.workorders import WorkOrderCreated, WorkOrderStateChanged
from riskwatch.common.pagination import keyset, page_of
from riskwatch.workorder.models import outbox
from riskwatch.workorder.workorders.domain import (
    Action,
    DeadlinePolicy,
    HistoryAction,
    Status,
    TransitionNotAllowed,
    due_at,
    escalate,
    transition,
)
from riskwatch.workorder.workorders.models import WorkOrder, WorkOrderEvent

SOURCE = "/riskwatch/workorder"
# Who the history names for what the alarm stream does (no person acted).
SYSTEM_ACTOR = "system"
TITLE_LENGTH = 200


async def open_work_order(
    session: AsyncSession,
    *,
    alarm: AlarmSnapshot,
    policy: DeadlinePolicy,
    traceparent: str | None,
) -> WorkOrder | None:
    """Open the work order of `alarm`; None when it already has one (a redelivery)."""
    now = datetime.now(UTC)
    device = alarm.device
    stmt = (
        insert(WorkOrder)
        .values(
            work_order_id=str(uuid.uuid4()),
            alarm_id=alarm.alarm_id,
            rule_id=alarm.rule_id,
            level=alarm.level.value,
            status="open",
            sector_id=device.sector_id,
            scenario_id=device.scenario_id,
            town_id=device.town_id,
            village_id=device.village_id,
            device_id=device.device_id,
            title=_title(alarm),
            created_at=now,
            due_at=due_at(alarm.level, now, policy),
            updated_at=now,
        )
        # The unique alarm_id decides, not a prior SELECT: two deliveries cannot both insert.
        .on_conflict_do_nothing(index_elements=[WorkOrder.alarm_id])
        .returning(WorkOrder)
    )
    order: WorkOrder | None = (await session.scalars(stmt)).first()
    if order is None:
        return None
    _record(
        session,
        order,
        action="create",
        from_status=None,
        actor=SYSTEM_ACTOR,
        at=now,
        note=f"alarm {alarm.alarm_id} raised at level {alarm.level.value}",
    )
    await session.flush()
    await _stage(session, WorkOrderCreated(work_order=order.snapshot()), order, traceparent)
    return order


async def escalate_work_order(
    session: AsyncSession,
    *,
    alarm: AlarmSnapshot,
    policy: DeadlinePolicy,
    traceparent: str | None,
) -> WorkOrder | None:
    """Follow the alarm to a higher level: raise the order's level, bring its deadline forward.

    Returns the order when it changed (or had to be opened), None when nothing changed.
    """
    order = await session.scalar(
        select(WorkOrder).where(WorkOrder.alarm_id == alarm.alarm_id).with_for_update()
    )
    if order is None:
        # Same key, same partition: the AlarmRaised should have come first. Open it now
        # rather than lose the alarm.
        return await open_work_order(session, alarm=alarm, policy=policy, traceparent=traceparent)
    change = escalate(
        status=order.current_status,
        level=Level(order.level),
        current_due_at=order.due_at,
        created_at=order.created_at,
        new_level=alarm.level,
        policy=policy,
    )
    if change is None:
        return None
    now = datetime.now(UTC)
    note = f"level {order.level} -> {change.level.value}"
    if change.due_at != order.due_at:
        note += f"; due {order.due_at.isoformat()} -> {change.due_at.isoformat()}"
    order.level = change.level.value
    order.due_at = change.due_at
    order.updated_at = now
    _record(
        session,
        order,
        action="escalate",
        from_status=order.current_status,
        actor=SYSTEM_ACTOR,
        at=now,
        note=note,
    )
    await session.flush()
    return order


async def accept_work_order(
    session: AsyncSession,
    *,
    work_order_id: str,
    actor: str,
    note: str | None,
    scope: Scope = DISTRICT,
    audit: AuditContext | None = None,
) -> WorkOrder:
    return await _change(
        session,
        work_order_id=work_order_id,
        action="accept",
        actor=actor,
        note=note,
        scope=scope,
        audit=audit,
    )


async def dispose_work_order(
    session: AsyncSession,
    *,
    work_order_id: str,
    actor: str,
    note: str,
    scope: Scope = DISTRICT,
    audit: AuditContext | None = None,
) -> WorkOrder:
    return await _change(
        session,
        work_order_id=work_order_id,
        action="dispose",
        actor=actor,
        note=note,
        scope=scope,
        audit=audit,
    )


async def close_work_order(
    session: AsyncSession,
    *,
    work_order_id: str,
    actor: str,
    feedback: str,
    scope: Scope = DISTRICT,
    audit: AuditContext | None = None,
) -> WorkOrder:
    """Close the loop with the handler's feedback; alerting clears the alarm on the event."""
    return await _change(
        session,
        work_order_id=work_order_id,
        action="close",
        actor=actor,
        note=feedback,
        scope=scope,
        audit=audit,
    )


async def _change(
    session: AsyncSession,
    *,
    work_order_id: str,
    action: Action,
    actor: str,
    note: str | None,
    scope: Scope,
    audit: AuditContext | None,
) -> WorkOrder:
    order = await session.get(WorkOrder, work_order_id, with_for_update=True)
    if order is None or not scope.holds(order):  # outside the scope: as if it did not exist
        raise NotFound(f"No work order {work_order_id!r}.")
    from_status = order.current_status
    try:
        to_status = transition(from_status, action)
    except TransitionNotAllowed as exc:
        raise InvalidState(str(exc), work_order_status=from_status, action=action) from exc
    if audit is not None:
        audit.changed({"status": from_status}, {"status": to_status, "note": note})
    now = datetime.now(UTC)
    if action == "accept":
        order.accepted_at, order.accepted_by = now, actor
    elif action == "dispose":
        order.disposed_at, order.disposed_by, order.disposal_note = now, actor, note
    else:
        if order.disposed_at is None:  # closed straight from accepted: disposed on this visit
            order.disposed_at, order.disposed_by = now, actor
        order.closed_at, order.closed_by, order.feedback = now, actor, note
    order.status = to_status
    order.updated_at = now
    _record(session, order, action=action, from_status=from_status, actor=actor, at=now, note=note)
    await session.flush()
    event = WorkOrderStateChanged(
        work_order=order.snapshot(),
        action=action,
        from_status=from_status,
        to_status=to_status,
        actor=actor,
        note=note,
        changed_at=now,
    )
    # An HTTP request has no consumed envelope: new_event continues the request's trace.
    await _stage(session, event, order, traceparent=None)
    return order


def _record(
    session: AsyncSession,
    order: WorkOrder,
    *,
    action: HistoryAction,
    from_status: Status | None,
    actor: str,
    at: datetime,
    note: str | None,
) -> None:
    session.add(
        WorkOrderEvent(
            work_order_id=order.work_order_id,
            action=action,
            from_status=from_status,
            to_status=order.status,
            actor=actor,
            note=note,
            at=at,
        )
    )


async def _stage(
    session: AsyncSession, payload: EventPayload, order: WorkOrder, traceparent: str | None
) -> None:
    event = new_event(payload, source=SOURCE, subject=order.alarm_id, traceparent=traceparent)
    await outbox.add(session, WORKORDERS, event, key=order.alarm_id)


def _title(alarm: AlarmSnapshot) -> str:
    device = alarm.device
    where = device.name or device.device_id
    title = (
        f"{alarm.level.value.capitalize()} alarm: {alarm.metric} {alarm.value:g} "
        f"(threshold {alarm.threshold:g}) at {where}"
    )
    return title[:TITLE_LENGTH]


async def get_work_order_or_raise(
    session: AsyncSession, *, work_order_id: str, scope: Scope = DISTRICT
) -> WorkOrder:
    order = await session.get(WorkOrder, work_order_id)
    if order is None or not scope.holds(order):
        raise NotFound(f"No work order {work_order_id!r}.")
    return order


async def list_history(session: AsyncSession, *, work_order_id: str) -> list[WorkOrderEvent]:
    """What happened to a work order, oldest first."""
    stmt = (
        select(WorkOrderEvent)
        .where(WorkOrderEvent.work_order_id == work_order_id)
        .order_by(WorkOrderEvent.id)
    )
    return list((await session.scalars(stmt)).all())


async def list_work_orders(
    session: AsyncSession,
    *,
    alarm_id: str | None,
    level: str | None,
    status: str | None,
    sector_id: str | None,
    cursor: str | None,
    limit: int,
    scope: Scope = DISTRICT,
) -> tuple[list[WorkOrder], str | None]:
    stmt = select(WorkOrder).where(scope.on(WorkOrder))
    filters = [
        (WorkOrder.alarm_id, alarm_id),
        (WorkOrder.level, level),
        (WorkOrder.status, status),
        (WorkOrder.sector_id, sector_id),
    ]
    for column, value in filters:
        if value is not None:
            stmt = stmt.where(column == value)
    stmt = keyset(
        stmt, at=WorkOrder.created_at, id_=WorkOrder.work_order_id, cursor=cursor, limit=limit
    )
    rows = (await session.scalars(stmt)).all()
    return page_of(rows, limit=limit, at="created_at", id_="work_order_id")
