"""Work-order use cases against real PostgreSQL: one order per alarm however often it is
delivered, dispatch by the approved command manual, every step with its history row and
outbox event, who may act, closure checks, stage timers, the duty-staff projection."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.access import Scope
from riskwatch.common.auth import Principal
from riskwatch.common.catalog import load_catalog
from riskwatch.common.errors import Forbidden, Invalid, InvalidState, NotFound
from riskwatch.common.events import EventPayload, decode, new_event
from riskwatch.common.events.base import Level
from riskwatch.common.events.duty import DutyCenterChanged
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.events.workorders import (
    WorkOrderCreated,
    WorkOrderDeadlineApproaching,
    WorkOrderOverdue,
    WorkOrderStateChanged,
)
from riskwatch.common.migrate import alembic_config
from riskwatch.common.tracing import trace_id_of
from riskwatch.workorder.manual import service as manual
from riskwatch.workorder.manual.domain import ManualBody, ManualEntry
from riskwatch.workorder.manual.service import ManualCache
from riskwatch.workorder.models import outbox
from riskwatch.workorder.module import MIGRATIONS
from riskwatch.workorder.workorders import service
from riskwatch.workorder.workorders.domain import (
    DEFAULT_POLICY,
    Accept,
    Arrive,
    Clear,
    Close,
    Command,
    Dispatch,
    FalseAlarm,
    Feedback,
    Location,
    Return,
    Review,
    Supervise,
)
from riskwatch.workorder.workorders.handlers import on_alarm, on_duty
from riskwatch.workorder.workorders.models import UnitMember, WorkOrder, WorkOrderEvent

from .. import factories as f

CATALOG = load_catalog()
NOW = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
LIMITS = {"accept": 10, "on_site": 30, "clear": 60, "feedback": 90, "close": 120}


def make_loop() -> service.Loop:
    return service.Loop(
        policy=DEFAULT_POLICY, manual=ManualCache(), remind_fraction=0.8, catalog=CATALOG
    )


def person(name: str, *roles: str, scope: str = "district") -> Principal:
    return Principal(name, roles=roles or ("handler",), scope=Scope.parse(scope))


async def staged(session: AsyncSession) -> list[Envelope[EventPayload]]:
    rows = (await session.execute(select(outbox.table).order_by(outbox.table.c.id))).all()
    return [decode([(k, v.encode()) for k, v in r.headers.items()], r.value) for r in rows]


async def history(session: AsyncSession, order: WorkOrder) -> list[tuple[str, str | None, str]]:
    rows = await service.list_history(session, work_order_id=order.work_order_id)
    return [(h.action, h.from_status, h.to_status) for h in rows]


async def approved_manual(session: AsyncSession, **fields: object) -> None:
    entry = ManualEntry.model_validate(
        {
            "scenario_id": "gas",
            "unit": "street-{town_id}",
            "disposal_standard": "cut the gas, ventilate, re-measure",
            "limits": LIMITS,
            "required_fields": ["cause", "measures"],
            "tier": "medium",
        }
        | fields
    )
    row = await manual.draft(
        session, body=ManualBody(entries=[entry]), catalog=CATALOG, actor="author", now=NOW
    )
    await manual.approve(session, version=row.version, actor="head", note=None, now=NOW)


async def members(
    session: AsyncSession, unit: str, *people: str, leader: str | None = None
) -> None:
    event = DutyCenterChanged(
        duty_center_id=unit,
        name=unit,
        leader_id=leader,
        member_ids=list(people),
        changed_at=NOW,
    )
    await on_duty(session, new_event(event, source="/riskwatch/notify", subject=unit))


async def opened(
    session: AsyncSession, level: Level = Level.RED, loop: service.Loop | None = None
) -> WorkOrder:
    order = await service.open_work_order(
        session, alarm=f.alarm(level), loop=loop or make_loop(), now=NOW, traceparent=None
    )
    assert order is not None
    return order


async def step(
    session: AsyncSession,
    order: WorkOrder,
    command: Command,
    who: Principal,
    at: datetime,
    loop: service.Loop | None = None,
) -> WorkOrder:
    return await service.act(
        session,
        work_order_id=order.work_order_id,
        command=command,
        principal=who,
        loop=loop or make_loop(),
        now=at,
    )


async def test_models_and_migrations_agree(workorder_db: str) -> None:
    # Raises when autogenerate would find anything to add, drop or change.
    await asyncio.to_thread(command.check, alembic_config(MIGRATIONS, workorder_db))


async def test_an_alarm_opens_one_order_dispatched_by_the_manual(session: AsyncSession) -> None:
    await approved_manual(session)
    handle = on_alarm(make_loop(), lambda: NOW)
    alarm = f.alarm(Level.RED)
    first = f.raised(alarm)
    await handle(session, first)
    await handle(session, first)  # redelivered past the inbox
    await handle(session, f.raised(alarm))  # a duplicate with a new event id
    (order,) = (await session.scalars(select(WorkOrder))).all()
    assert (order.status, order.unit_id, order.tier, order.manual_version) == (
        "dispatched",
        "street-lujiazui",
        "medium",
        1,
    )
    assert order.disposal_standard == "cut the gas, ventilate, re-measure"
    assert order.required_fields == ["cause", "measures"]
    assert order.deadlines == {s: NOW + m * MIN for s, m in LIMITS.items()}
    assert (order.stage_due_at, order.next_timer_at) == (NOW + 10 * MIN, NOW + 8 * MIN)
    assert await history(session, order) == [
        ("create", None, "created"),
        ("dispatch", "created", "dispatched"),
    ]
    events = await staged(session)
    assert [type(e.data) for e in events] == [WorkOrderCreated, WorkOrderStateChanged]
    assert all(e.subject == alarm.alarm_id for e in events)
    change = events[1].data
    assert isinstance(change, WorkOrderStateChanged)
    assert (change.action, change.to_status, change.work_order.unit_id) == (
        "dispatch",
        "dispatched",
        "street-lujiazui",
    )
    assert change.work_order.stage == "accept"
    assert trace_id_of(events[0].traceparent) == trace_id_of(first.traceparent)


async def test_a_technical_alarm_opens_no_disposal_order(session: AsyncSession) -> None:
    await approved_manual(session)
    handle = on_alarm(make_loop(), lambda: NOW)
    offline = f.alarm(Level.BLUE).model_copy(update={"kind": "technical"})
    await handle(session, f.raised(offline))
    await handle(session, f.updated(offline, Level.YELLOW))
    assert (await session.scalars(select(WorkOrder))).all() == []
    assert await staged(session) == []


async def test_without_a_manual_the_street_center_gets_it_on_the_level_deadline(
    session: AsyncSession,
) -> None:
    order = await opened(session, Level.YELLOW)
    assert (order.unit_id, order.manual_version, order.tier) == ("street-lujiazui", None, "small")
    assert order.due_at - order.created_at == timedelta(hours=24)
    assert order.accept_due_at - order.created_at == timedelta(hours=2)


async def test_a_higher_level_brings_the_limits_forward(session: AsyncSession) -> None:
    handle = on_alarm(make_loop(), lambda: NOW)
    alarm = f.alarm(Level.YELLOW)
    await handle(session, f.raised(alarm))
    await handle(session, f.updated(alarm, Level.RED))
    await handle(session, f.updated(alarm, Level.ORANGE))  # lower: nothing
    (order,) = (await session.scalars(select(WorkOrder))).all()
    assert order.level == "red"
    assert order.due_at - order.created_at == timedelta(hours=2)
    assert [h[0] for h in await history(session, order)] == ["create", "dispatch", "escalate_level"]


async def test_the_whole_loop_by_the_unit_s_staff(session: AsyncSession) -> None:
    await approved_manual(session)
    await members(session, "street-lujiazui", "he.ping", "yang.lei", leader="zhang.wei")
    order = await opened(session)
    he, yang = person("he.ping"), person("yang.lei")
    await step(session, order, Accept(), he, NOW + MIN)
    await step(session, order, Arrive(Location(121.51, 31.23)), he, NOW + 5 * MIN)
    await step(session, order, Clear("valve closed"), yang, NOW + 20 * MIN)
    await step(
        session, order, Feedback({"cause": "flange", "measures": "tightened"}), he, NOW + 30 * MIN
    )
    await step(session, order, Review(), person("head.zhou", "department_head"), NOW + 40 * MIN)
    await step(session, order, Close(note="done"), he, NOW + 41 * MIN)
    assert order.status == "closed"
    assert order.closed_by == "he.ping"
    assert (order.accepted_by, order.clear_note) == ("he.ping", "valve closed")
    assert order.next_timer_at is None
    assert order.stage_due_at is None
    changes = [e.data for e in await staged(session) if isinstance(e.data, WorkOrderStateChanged)]
    assert [(c.action, c.actor) for c in changes] == [
        ("dispatch", "system"),
        ("accept", "he.ping"),
        ("arrive", "he.ping"),
        ("clear", "yang.lei"),
        ("feedback", "he.ping"),
        ("review", "head.zhou"),
        ("close", "he.ping"),
    ]


async def test_only_the_assignee_or_the_unit_s_staff_may_act(session: AsyncSession) -> None:
    await members(session, "street-lujiazui", "he.ping")
    order = await opened(session)
    with pytest.raises(Forbidden, match="duty staff of street-lujiazui"):
        await step(session, order, Accept(), person("stranger"), NOW + MIN)
    # Transferred to a named person of another unit: that person may, the old unit may not.
    await step(session, order, Return("not ours"), person("he.ping"), NOW + MIN)
    await step(
        session,
        order,
        Dispatch("street-huamu", "qian.huamu"),
        person("disp", "business_admin"),
        NOW + 2 * MIN,
    )
    with pytest.raises(Forbidden):
        await step(session, order, Accept(), person("he.ping"), NOW + 3 * MIN)
    await step(session, order, Accept(), person("qian.huamu"), NOW + 3 * MIN)
    # Outside the caller's scope the order does not exist.
    with pytest.raises(NotFound):
        await step(
            session, order, Arrive(), person("qian.huamu", scope="town:huamu"), NOW + 4 * MIN
        )
    # Supervision is a leader's.
    with pytest.raises(Forbidden, match="supervise"):
        await step(
            session, order, Supervise("hurry", NOW + 60 * MIN), person("qian.huamu"), NOW + 5 * MIN
        )
    await step(
        session, order, Supervise("hurry", NOW + 60 * MIN), person("boss", "leader"), NOW + 5 * MIN
    )


async def test_an_illegal_step_is_a_409_naming_the_allowed_ones(session: AsyncSession) -> None:
    await members(session, "street-lujiazui", "he.ping")
    order = await opened(session)
    with pytest.raises(InvalidState) as caught:
        await step(session, order, Clear("x"), person("he.ping"), NOW + MIN)
    assert caught.value.extensions["allowed"] == [
        "accept",
        "return",
        "transfer",
        "false_alarm",
        "supervise",
        "escalate_tier",
        "escalate_level",
    ]
    assert order.status == "dispatched"
    assert await history(session, order) == [
        ("create", None, "created"),
        ("dispatch", "created", "dispatched"),
    ]


async def test_a_returned_order_goes_back_to_dispatch(session: AsyncSession) -> None:
    await members(session, "street-lujiazui", "he.ping")
    order = await opened(session)
    await step(session, order, Accept(), person("he.ping"), NOW + MIN)
    await step(session, order, Return("wrong street"), person("he.ping"), NOW + 2 * MIN)
    assert (order.status, order.assignee, order.accepted_at) == ("returned", None, None)
    rows = await service.list_history(session, work_order_id=order.work_order_id)
    assert (rows[-1].action, rows[-1].actor, rows[-1].note) == ("return", "he.ping", "wrong street")
    dispatcher = person("disp", "business_admin")
    await step(session, order, Dispatch("street-huamu"), dispatcher, NOW + 3 * MIN)
    assert (order.status, order.unit_id) == ("dispatched", "street-huamu")


async def test_closure_data_that_fails_goes_back_for_correction(session: AsyncSession) -> None:
    await approved_manual(session, photos_required=1)
    await members(session, "street-lujiazui", "he.ping", leader="zhang.wei")
    order = await opened(session)
    he = person("he.ping")
    await step(session, order, Accept(), he, NOW + MIN)
    await step(session, order, Arrive(Location(121.60, 31.30)), he, NOW + 2 * MIN)  # not Lujiazui
    await step(session, order, Clear("ok"), he, NOW + 3 * MIN)
    await step(session, order, Feedback({"cause": "flange"}), he, NOW + 4 * MIN)
    assert order.status == "cleared"
    assert order.quality_problems == [
        "required field 'measures' is missing",
        "1 photo(s) required, 0 attached",
        "on-site location 121.60000,31.30000 is outside the town",
    ]
    assert [h[0] for h in await history(session, order)][-2:] == ["feedback", "correct"]
    with pytest.raises(InvalidState):  # never closed so
        await step(session, order, Close(), he, NOW + 5 * MIN)


async def test_a_false_alarm_closes_the_order(session: AsyncSession) -> None:
    await members(session, "street-lujiazui", "he.ping")
    order = await opened(session)
    await step(session, order, FalseAlarm("detector wet after rain"), person("he.ping"), NOW + MIN)
    assert (order.status, order.false_alarm, order.closed_by) == ("closed", True, "he.ping")
    last = (await staged(session))[-1].data
    assert isinstance(last, WorkOrderStateChanged)
    assert last.action == "false_alarm"
    assert last.work_order.false_alarm


async def test_a_hand_made_order_is_dispatched_like_an_alarm_s(session: AsyncSession) -> None:
    await approved_manual(session)
    report = service.Report(
        origin="patrol",
        scenario_id="gas",
        level=Level.YELLOW,
        town_id="huamu",
        village_id=None,
        title="Smell of gas at Huamu Rd 100",
        description="strong smell near the kiosk",
        lon=121.55,
        lat=31.2,
    )
    order = await service.report_work_order(
        session, report=report, loop=make_loop(), principal=person("patrol.one"), now=NOW
    )
    assert (order.origin, order.alarm_id, order.unit_id, order.status) == (
        "patrol",
        order.work_order_id,
        "street-huamu",
        "dispatched",
    )
    assert (order.reported_by, order.rule_id, order.device_id) == ("patrol.one", None, None)
    with pytest.raises(Invalid, match="outside your scope"):
        await service.report_work_order(
            session,
            report=report,
            loop=make_loop(),
            principal=person("x", scope="town:lujiazui"),
            now=NOW,
        )


async def fire_all(session: AsyncSession, now: datetime) -> int:
    fired = 0
    while await service.fire_one_timer(session, now=now, fraction=0.8):
        fired += 1
    return fired


async def test_stage_timers_fire_at_80_percent_and_at_the_limit_once(session: AsyncSession) -> None:
    await approved_manual(session)
    order = await opened(session)
    assert await fire_all(session, NOW + 7 * MIN) == 0
    assert await fire_all(session, NOW + 8 * MIN) == 1
    assert await fire_all(session, NOW + 9 * MIN) == 0
    assert await fire_all(session, NOW + 10 * MIN) == 1
    assert await fire_all(session, NOW + 100 * MIN) == 0
    kinds = [e.data for e in await staged(session)][2:]
    assert [type(k) for k in kinds] == [WorkOrderDeadlineApproaching, WorkOrderOverdue]
    overdue = kinds[1]
    assert isinstance(overdue, WorkOrderOverdue)
    assert (overdue.stage, overdue.stage_due_at, overdue.overdue_at) == (
        "accept",
        NOW + 10 * MIN,
        NOW + 10 * MIN,
    )
    assert [h[0] for h in await history(session, order)][-2:] == ["remind", "overdue"]
    listed, _ = await service.list_work_orders(
        session, filters=service.Filters(overdue=True), cursor=None, limit=10, now=NOW + 11 * MIN
    )
    assert [o.work_order_id for o in listed] == [order.work_order_id]


async def test_two_timer_workers_fire_each_timer_once(workorder_db: str) -> None:
    from riskwatch.common.testing import engine_for

    engine = engine_for(workorder_db)
    async with engine.begin() as conn:
        s = AsyncSession(bind=conn)
        await members(s, "street-lujiazui", "he.ping")
    ids: list[str] = []
    try:
        async with AsyncSession(engine) as s, s.begin():
            ids = [(await opened(s)).work_order_id for _ in range(20)]

        async def worker() -> int:
            n = 0
            while True:
                async with AsyncSession(engine) as s, s.begin():
                    if not await service.fire_one_timer(s, now=NOW + 11 * MIN, fraction=0.8):
                        return n
                n += 1

        counts = await asyncio.gather(worker(), worker())
        assert sum(counts) == 20  # one overdue each; the reminders were late and skipped
        async with AsyncSession(engine) as s:
            overdue = await s.scalar(
                select(func.count())
                .select_from(WorkOrderEvent)
                .where(WorkOrderEvent.work_order_id.in_(ids), WorkOrderEvent.action == "overdue")
            )
            assert overdue == 20
    finally:
        async with AsyncSession(engine) as s, s.begin():
            await s.execute(
                WorkOrderEvent.__table__.delete().where(WorkOrderEvent.work_order_id.in_(ids))
            )
            await s.execute(WorkOrder.__table__.delete().where(WorkOrder.work_order_id.in_(ids)))
            await s.execute(outbox.table.delete())
            await s.execute(UnitMember.__table__.delete())
        await engine.dispose()


async def test_the_unit_s_staff_follow_the_newest_center_change(session: AsyncSession) -> None:
    unit = "street-huamu"

    async def change(at: datetime, *people: str, active: bool = True) -> None:
        event = DutyCenterChanged(
            duty_center_id=unit,
            name="Huamu",
            leader_id=people[0] if people else None,
            member_ids=list(people),
            active=active,
            changed_at=at,
        )
        await on_duty(session, new_event(event, source="/riskwatch/notify", subject=unit))

    async def staff() -> list[tuple[str, bool]]:
        rows = await session.execute(
            select(UnitMember.person_id, UnitMember.leader)
            .where(UnitMember.unit_id == unit)
            .order_by(UnitMember.person_id)
        )
        return [(p, leader) for p, leader in rows]

    await change(NOW, "a", "b")
    await change(NOW + MIN, "c")
    await change(NOW, "a", "b")  # older, delivered late: ignored
    assert await staff() == [("c", True)]
    await change(NOW + 2 * MIN, "c", active=False)
    assert await staff() == []


async def test_a_higher_level_follows_that_level_s_manual_entry(session: AsyncSession) -> None:
    red = ManualEntry.model_validate(
        {
            "scenario_id": "gas",
            "level": "red",
            "unit": "district",
            "disposal_standard": "evacuate 50 m, call the gas company",
            "tier": "big",
            "limits": {"accept": 5, "on_site": 20, "clear": 60, "feedback": 90, "close": 120},
            "required_fields": ["cause", "gas_company_crew"],
            "photos_required": 1,
        }
    )
    any_level = red.model_copy(
        update={"level": None, "unit": "street-{town_id}", "tier": "small", "photos_required": 0}
    )
    row = await manual.draft(
        session, body=ManualBody(entries=[red, any_level]), catalog=CATALOG, actor="a", now=NOW
    )
    await manual.approve(session, version=row.version, actor="head", note=None, now=NOW)
    handle = on_alarm(make_loop(), lambda: NOW)
    alarm = f.alarm(Level.YELLOW)
    await handle(session, f.raised(alarm))
    await handle(session, f.updated(alarm, Level.RED))
    (order,) = (await session.scalars(select(WorkOrder))).all()
    assert (order.level, order.tier, order.unit_id) == ("red", "big", "street-lujiazui")
    assert order.disposal_standard == "evacuate 50 m, call the gas company"
    assert (order.required_fields, order.photos_required) == (["cause", "gas_company_crew"], 1)
    rows = await service.list_history(session, work_order_id=order.work_order_id)
    assert rows[-1].note == "level yellow -> red, loop small -> big"
