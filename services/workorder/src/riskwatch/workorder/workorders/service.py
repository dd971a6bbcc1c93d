"""Use cases of work orders: open one per alarm (or by hand) and dispatch it by the command
manual, move it through the closed loop with the pure `decide`, fire its stage timers, list it.
Callers own the transaction; every event goes to the outbox in it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.access import DISTRICT, Scope
from riskwatch.common.audit.emit import AuditContext
from riskwatch.common.auth import Principal
from riskwatch.common.catalog import Catalog
from riskwatch.common.errors import Conflict, Invalid, InvalidState, NotFound
from riskwatch.common.events import EventPayload, Level, new_event
from riskwatch.common.events.alarms import AlarmSnapshot
from riskwatch.common.events.topics import WORKORDERS
from riskwatch.common.events.workorders import (
    Origin,
    WorkOrderCreated,
    WorkOrderDeadlineApproaching,
    WorkOrderOverdue,
    WorkOrderStateChanged,
)
from riskwatch.common.pagination import keyset, page_of
from riskwatch.workorder.evidence.service import photo_count
from riskwatch.workorder.manual.domain import (
    ManualEntry,
    default_unit,
    fallback_unit,
    find_entry,
    resolve_unit,
)
from riskwatch.workorder.manual.service import ManualCache
from riskwatch.workorder.models import outbox
from riskwatch.workorder.workorders.access import ensure_allowed
from riskwatch.workorder.workorders.domain import (
    Action,
    ClosureRules,
    Command,
    CommandRejected,
    Correct,
    DeadlinePolicy,
    Decision,
    Dispatch,
    EscalateLevel,
    Order,
    TransitionNotAllowed,
    closure_problems,
    decide,
    fire_timer,
    new_order,
    next_timer,
)
from riskwatch.workorder.workorders.models import WorkOrder, WorkOrderEvent

SOURCE = "/riskwatch/workorder"
# Who the history names for what the alarm stream, the manual and the timers do.
SYSTEM_ACTOR = "system"
TITLE_LENGTH = 200
# History entries beyond the actions: the timers' reminders and overdue notices.
TimerEntry = str


@dataclass(frozen=True, slots=True)
class Loop:
    """What the loop needs besides the database: the deadlines without a manual entry, the
    approved manual in force, the reminder's share of a stage's time, the catalog (towns'
    boundaries for the closure check)."""

    policy: DeadlinePolicy
    manual: ManualCache
    remind_fraction: float
    catalog: Catalog


async def _plan(
    session: AsyncSession,
    loop: Loop,
    *,
    scenario_id: str,
    rule_id: str | None,
    level: Level,
    town_id: str | None,
    sector_id: str,
) -> tuple[int | None, ManualEntry | None, str]:
    """The manual version and entry an order follows, and its unit."""
    active = await loop.manual.active(session)
    entry = (
        find_entry(active.entries, scenario_id=scenario_id, rule_id=rule_id, level=level)
        if active
        else None
    )
    if entry is None:
        return (
            (active.version if active else None),
            None,
            default_unit(town_id=town_id, sector_id=sector_id),
        )
    unit = resolve_unit(entry.unit, town_id=town_id, sector_id=sector_id)
    return active.version if active else None, entry, unit or fallback_unit(sector_id=sector_id)


async def open_work_order(
    session: AsyncSession,
    *,
    alarm: AlarmSnapshot,
    loop: Loop,
    now: datetime,
    traceparent: str | None,
) -> WorkOrder | None:
    """Open the work order of `alarm` and dispatch it by the manual; None when it already has
    one (a redelivery)."""
    device = alarm.device
    return await _open(
        session,
        loop=loop,
        now=now,
        traceparent=traceparent,
        work_order_id=str(uuid.uuid4()),
        alarm_id=alarm.alarm_id,
        origin="alarm",
        rule_id=alarm.rule_id,
        level=alarm.level,
        sector_id=device.sector_id,
        scenario_id=device.scenario_id,
        town_id=device.town_id,
        village_id=device.village_id,
        device_id=device.device_id,
        title=_title(alarm),
        extra={},
        note=f"alarm {alarm.alarm_id} raised at level {alarm.level.value}",
    )


@dataclass(frozen=True, slots=True)
class Report:
    """A work order made by hand: a patrol's finding or a public report."""

    origin: Origin
    scenario_id: str
    level: Level
    town_id: str | None
    village_id: str | None
    title: str
    description: str | None
    lon: float | None
    lat: float | None


async def report_work_order(
    session: AsyncSession,
    *,
    report: Report,
    loop: Loop,
    principal: Principal,
    now: datetime,
    audit: AuditContext | None = None,
) -> WorkOrder:
    """Open a work order by hand and dispatch it by the manual, like one from an alarm."""
    catalog = loop.catalog
    scenario = next((s for s in catalog.scenarios if s.id == report.scenario_id), None)
    if scenario is None:
        raise Invalid(f"Unknown scenario {report.scenario_id!r}.")
    if report.town_id is not None and all(t.id != report.town_id for t in catalog.towns):
        raise Invalid(f"Unknown town {report.town_id!r}.")
    if not principal.scope.admits(
        sector_id=scenario.sector_id, town_id=report.town_id, village_id=report.village_id
    ):
        raise Invalid(f"The place is outside your scope ({principal.scope}).")
    work_order_id = str(uuid.uuid4())
    order = await _open(
        session,
        loop=loop,
        now=now,
        traceparent=None,
        work_order_id=work_order_id,
        alarm_id=work_order_id,
        origin=report.origin,
        rule_id=None,
        level=report.level,
        sector_id=scenario.sector_id,
        scenario_id=scenario.id,
        town_id=report.town_id,
        village_id=report.village_id,
        device_id=None,
        title=report.title[:TITLE_LENGTH],
        extra={
            "description": report.description,
            "reported_by": principal.subject,
            "reported_lon": report.lon,
            "reported_lat": report.lat,
        },
        note=f"{report.origin} report by {principal.subject}",
    )
    if order is None:  # a fresh id never conflicts with an alarm's
        raise Conflict(f"Work order {work_order_id} exists already; report it again.")
    if audit is not None:
        audit.changed(None, {"work_order_id": work_order_id, "origin": report.origin})
    return order


async def _open(
    session: AsyncSession,
    *,
    loop: Loop,
    now: datetime,
    traceparent: str | None,
    work_order_id: str,
    alarm_id: str,
    origin: Origin,
    rule_id: str | None,
    level: Level,
    sector_id: str,
    scenario_id: str,
    town_id: str | None,
    village_id: str | None,
    device_id: str | None,
    title: str,
    extra: dict[str, object],
    note: str,
) -> WorkOrder | None:
    version, entry, unit = await _plan(
        session,
        loop,
        scenario_id=scenario_id,
        rule_id=rule_id,
        level=level,
        town_id=town_id,
        sector_id=sector_id,
    )
    limits = entry.limits.stage_limits() if entry else loop.policy.limits(level)
    created = new_order(
        level=level, tier=entry.tier if entry else "small", created_at=now, limits=limits
    )
    stmt = (
        insert(WorkOrder)
        .values(
            work_order_id=work_order_id,
            alarm_id=alarm_id,
            origin=origin,
            rule_id=rule_id,
            level=level.value,
            status=created.status,
            sector_id=sector_id,
            scenario_id=scenario_id,
            town_id=town_id,
            village_id=village_id,
            device_id=device_id,
            title=title,
            manual_version=version,
            disposal_standard=entry.disposal_standard if entry else None,
            disposal_type=entry.disposal_type if entry else None,
            handler_role=entry.handler_role if entry else None,
            required_fields=list(entry.required_fields) if entry else [],
            photos_required=entry.photos_required if entry else 0,
            tier=created.tier,
            created_at=now,
            accept_due_at=created.deadlines["accept"],
            on_site_due_at=created.deadlines["on_site"],
            clear_due_at=created.deadlines["clear"],
            feedback_due_at=created.deadlines["feedback"],
            due_at=created.deadlines["close"],
            stage_due_at=created.stage_due_at,
            stage_clock_from=created.stage_clock_from,
            next_timer_at=_timer_at(created, loop.remind_fraction),
            updated_at=now,
            **extra,
        )
        # The unique alarm_id decides, not a prior SELECT: two deliveries cannot both insert.
        .on_conflict_do_nothing(index_elements=[WorkOrder.alarm_id])
        .returning(WorkOrder)
    )
    order: WorkOrder | None = (await session.scalars(stmt)).first()
    if order is None:
        return None
    _record(
        session, order, action="create", from_status=None, actor=SYSTEM_ACTOR, at=now, note=note
    )
    await session.flush()
    await _stage(session, WorkOrderCreated(work_order=order.snapshot()), order, traceparent)
    # Dispatched at once by the manual: to its unit, and its named person when it names one.
    await _apply(
        session,
        order,
        Dispatch(unit_id=unit, assignee=entry.assignee if entry else None),
        actor=SYSTEM_ACTOR,
        loop=loop,
        now=now,
        traceparent=traceparent,
    )
    return order


async def escalate_work_order(
    session: AsyncSession,
    *,
    alarm: AlarmSnapshot,
    loop: Loop,
    now: datetime,
    traceparent: str | None,
) -> WorkOrder | None:
    """Follow the alarm to a higher level: the level rises, the deadlines of that level's
    entry apply where they are earlier. None when nothing changed."""
    order = await session.scalar(
        select(WorkOrder).where(WorkOrder.alarm_id == alarm.alarm_id).with_for_update()
    )
    if order is None:
        # Same key, same partition: the AlarmRaised should have come first. Open it now
        # rather than lose the alarm.
        return await open_work_order(
            session, alarm=alarm, loop=loop, now=now, traceparent=traceparent
        )
    state = order.state()
    if "escalate_level" not in state.allowed or alarm.level.rank <= state.level.rank:
        return None
    version, entry, _ = await _plan(
        session,
        loop,
        scenario_id=order.scenario_id,
        rule_id=order.rule_id,
        level=alarm.level,
        town_id=order.town_id,
        sector_id=order.sector_id,
    )
    limits = entry.limits.stage_limits() if entry else loop.policy.limits(alarm.level)
    await _apply(
        session,
        order,
        EscalateLevel(level=alarm.level, limits=limits, tier=entry.tier if entry else None),
        actor=SYSTEM_ACTOR,
        loop=loop,
        now=now,
        traceparent=traceparent,
    )
    if entry is not None:
        # The new level's entry says how to dispose of it now (a red gas leak needs the gas
        # company's crew and a photo); the unit that holds the order keeps it.
        _follow(order, entry, version)
        await session.flush()
    return order


async def act(
    session: AsyncSession,
    *,
    work_order_id: str,
    command: Command,
    principal: Principal,
    loop: Loop,
    now: datetime,
    audit: AuditContext | None = None,
) -> WorkOrder:
    """A person's step on an order: found in their scope, allowed to them, allowed now."""
    order = await session.get(WorkOrder, work_order_id, with_for_update=True)
    if order is None or not principal.scope.holds(order):
        raise NotFound(f"No work order {work_order_id!r}.")
    await ensure_allowed(session, order, principal, command.action)
    before = order.current_status
    await _apply(
        session, order, command, actor=principal.subject, loop=loop, now=now, traceparent=None
    )
    if command.action in ("feedback", "review"):
        # Closure quality (seed 003 art. 9): data missing, irregular or illogical goes back
        # to the handler for correction, flagged; it is never closed so.
        await _check_closure(session, order, loop=loop, now=now)
    if audit is not None:
        audit.changed({"status": before}, {"status": order.status, "action": command.action})
    return order


async def _check_closure(
    session: AsyncSession, order: WorkOrder, *, loop: Loop, now: datetime
) -> None:
    town = next((t for t in loop.catalog.towns if t.id == order.town_id), None)
    problems = closure_problems(
        order.state(),
        ClosureRules(tuple(order.required_fields or ()), order.photos_required),
        photos=await photo_count(session, order.work_order_id),
        town_bbox=town.bbox if town else None,
    )
    if problems:
        await _apply(
            session,
            order,
            Correct(problems=tuple(problems)),
            actor=SYSTEM_ACTOR,
            loop=loop,
            now=now,
            traceparent=None,
        )


async def _apply(
    session: AsyncSession,
    order: WorkOrder,
    command: Command,
    *,
    actor: str,
    loop: Loop,
    now: datetime,
    traceparent: str | None,
) -> Decision:
    """Decide, write back, record the history and stage the event: one step, whoever takes it."""
    try:
        decision = decide(order.state(), command, now)
    except TransitionNotAllowed as exc:
        raise InvalidState(
            str(exc), work_order_status=exc.status, action=exc.action, allowed=list(exc.allowed)
        ) from exc
    except CommandRejected as exc:
        raise Invalid(str(exc)) from exc
    new = decision.order
    order.apply(new, next_timer_at=_timer_at(new, loop.remind_fraction))
    if command.action == "accept":
        order.accepted_by = actor
    elif command.action in ("close", "false_alarm"):
        order.closed_by = actor
    elif command.action == "clear":
        order.clear_note = decision.note
    order.updated_at = now
    _record(
        session,
        order,
        action=decision.action,
        from_status=decision.from_status,
        actor=actor,
        at=now,
        note=decision.note,
    )
    await session.flush()
    event = WorkOrderStateChanged(
        work_order=order.snapshot(),
        action=decision.action,
        from_status=decision.from_status,
        to_status=new.status,
        actor=actor,
        note=decision.note,
        changed_at=now,
    )
    await _stage(session, event, order, traceparent)
    return decision


def _follow(order: WorkOrder, entry: ManualEntry, version: int | None) -> None:
    """What an order keeps of the manual entry it follows."""
    order.manual_version = version
    order.disposal_standard = entry.disposal_standard
    order.disposal_type = entry.disposal_type
    order.handler_role = entry.handler_role
    order.required_fields = list(entry.required_fields)
    order.photos_required = entry.photos_required


def _timer_at(order: Order, fraction: float) -> datetime | None:
    timer = next_timer(order, fraction)
    return timer[1] if timer else None


async def fire_one_timer(session: AsyncSession, *, now: datetime, fraction: float) -> bool:
    """Fire the earliest due stage timer of one order (a reminder or the overdue notice), in
    the caller's transaction; False when none is due. SKIP LOCKED lets several workers share
    the load; the flags on the row make each timer fire once."""
    order = await session.scalar(
        select(WorkOrder)
        .where(WorkOrder.next_timer_at <= now)
        .order_by(WorkOrder.next_timer_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if order is None:
        return False
    state, fired = fire_timer(order.state(), now, fraction)
    order.apply(state, next_timer_at=_timer_at(state, fraction))
    if fired is None:  # a timer moved later (a supervision) since the row was written
        return True
    order.updated_at = now
    stage, due = state.stage, state.stage_due_at
    if stage is None or due is None:  # a timer runs only in a running stage
        return True
    snapshot = order.snapshot()
    payload: EventPayload
    if fired == "reminder":
        payload = WorkOrderDeadlineApproaching(
            work_order=snapshot, stage=stage, stage_due_at=due, reminded_at=now
        )
        note = f"reminder: the {stage} stage is due {due.isoformat()}"
    else:
        payload = WorkOrderOverdue(
            work_order=snapshot, stage=stage, stage_due_at=due, overdue_at=now
        )
        note = f"overdue: the {stage} stage was due {due.isoformat()}"
    _record(
        session,
        order,
        action="remind" if fired == "reminder" else "overdue",
        from_status=order.current_status,
        actor=SYSTEM_ACTOR,
        at=now,
        note=note,
    )
    await session.flush()
    await _stage(session, payload, order, traceparent=None)
    return True


def _record(
    session: AsyncSession,
    order: WorkOrder,
    *,
    action: Action | TimerEntry,
    from_status: str | None,
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


@dataclass(frozen=True, slots=True)
class Filters:
    alarm_id: str | None = None
    level: str | None = None
    status: str | None = None
    sector_id: str | None = None
    unit_id: str | None = None
    assignee: str | None = None
    overdue: bool | None = None


def _overdue(now: datetime) -> ColumnElement[bool]:
    """Open and past the running stage's limit now: what is to be chased (the timer's
    overdue event may still be on its way; the list does not wait for it)."""
    return and_(WorkOrder.status != "closed", WorkOrder.stage_due_at < now)


async def list_work_orders(
    session: AsyncSession,
    *,
    filters: Filters,
    cursor: str | None,
    limit: int,
    now: datetime,
    scope: Scope = DISTRICT,
) -> tuple[list[WorkOrder], str | None]:
    stmt = select(WorkOrder).where(scope.on(WorkOrder))
    equal: list[tuple[Any, str | None]] = [
        (WorkOrder.alarm_id, filters.alarm_id),
        (WorkOrder.level, filters.level),
        (WorkOrder.status, filters.status),
        (WorkOrder.sector_id, filters.sector_id),
        (WorkOrder.unit_id, filters.unit_id),
        (WorkOrder.assignee, filters.assignee),
    ]
    for column, value in equal:
        if value is not None:
            stmt = stmt.where(column == value)
    if filters.overdue is not None:
        stmt = stmt.where(_overdue(now) if filters.overdue else ~_overdue(now))
    stmt = keyset(
        stmt, at=WorkOrder.created_at, id_=WorkOrder.work_order_id, cursor=cursor, limit=limit
    )
    rows = (await session.scalars(stmt)).all()
    return page_of(rows, limit=limit, at="created_at", id_="work_order_id")
