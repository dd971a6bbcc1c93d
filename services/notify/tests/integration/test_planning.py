"""The first escalation step of alarm events against real PostgreSQL: who gets what, once;
alarms raised to a higher level; a center with nobody on duty; what the consumer ignores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.catalog import default_catalog
from riskwatch.common.events import Level, new_event
from riskwatch.common.events.alarms import AlarmCleared
from riskwatch.common.events.workorders import WorkOrderSnapshot, WorkOrderStateChanged
from riskwatch.notify.duty.models import DutyAlert
from riskwatch.notify.escalation.models import Escalation
from riskwatch.notify.notifications.handlers import alarm_handler
from riskwatch.notify.notifications.models import Notification

from .. import factories as f

GRACE = f.GRACE


async def notifications(session: AsyncSession, alarm_id: str) -> list[Notification]:
    rows = await session.scalars(
        select(Notification)
        .where(Notification.alarm_id == alarm_id)
        .order_by(Notification.duty_center_id, Notification.person_id, Notification.channel)
    )
    return list(rows)


def who(rows: list[Notification]) -> set[tuple[str, str, str, str]]:
    return {(r.level, r.duty_center_id, r.person_id, r.channel) for r in rows}


async def test_an_alarm_reaches_everyone_on_duty_at_its_centers(session: AsyncSession) -> None:
    await f.add_roster(session)
    alarm = f.alarm(Level.YELLOW, alarm_id="1a2b3c4d-1111-2222-3333-444444444444")
    plan = await f.first_step(
        session,
        alarm=alarm,
        place="Lujiazui Street",
        traceparent=f.TRACEPARENT,
        now=f.NOW,
        grace=GRACE,
    )
    assert plan.duty_center_ids == ["street-lujiazui", "sector-construction"]
    assert plan.uncovered == {}
    rows = await notifications(session, alarm.alarm_id)
    assert len(plan.created) == len(rows) == 6
    assert who(rows) == {
        ("yellow", center, person, channel)
        for center, person in [
            ("street-lujiazui", "l1"),
            ("street-lujiazui", "l3"),  # starts exactly now
            ("sector-construction", "s1"),
        ]
        for channel in ("in_app", "sms")
    }  # l2 (ended exactly now), s2 (ended before), d1 (yellow stays below the district): none
    sms = next(r for r in rows if r.person_id == "l1" and r.channel == "sms")
    assert sms.recipient == f.phone_of("l1")
    assert sms.status == "pending"
    assert sms.attempts == 0
    assert sms.idempotency_key == f"{alarm.alarm_id}:yellow:0.0:l1:sms"
    assert (sms.step, sms.round, sms.locale) == (0, 0, "zh-CN")
    assert sms.alarm_received_at == alarm.received_at
    assert sms.traceparent == f.TRACEPARENT
    # In the person's language (zh-CN by default), naming the alarm as a reply must name it.
    assert "黄色" in sms.message
    assert "Gas well 1" in sms.message
    assert "Lujiazui Street" in sms.message
    assert "QS 1a2b3c4d" in sms.message


async def test_an_alarm_handled_twice_creates_one_set(session: AsyncSession) -> None:
    await f.add_roster(session, now=datetime.now(UTC))  # the consumer asks "who now?"
    handle = alarm_handler(default_catalog(), grace=GRACE, caps=f.CAPS)
    alarm = f.alarm(Level.ORANGE)
    event = f.raised(alarm)
    await handle(session, event)
    first = await notifications(session, alarm.alarm_id)
    await handle(session, event)  # redelivered
    await handle(session, f.raised(alarm))  # published again under a new event id
    again = await notifications(session, alarm.alarm_id)
    assert len(first) == 8  # l1, l3, s1, d1 x in_app, sms
    assert [r.notification_id for r in again] == [r.notification_id for r in first]


async def test_a_technical_alarm_starts_no_safety_escalation(session: AsyncSession) -> None:
    await f.add_roster(session, now=datetime.now(UTC))
    handle = alarm_handler(default_catalog(), grace=GRACE, caps=f.CAPS)
    offline = f.alarm(Level.BLUE).model_copy(update={"kind": "technical"})
    await handle(session, f.raised(offline))
    await handle(session, f.escalated(offline, Level.YELLOW))
    assert await notifications(session, offline.alarm_id) == []
    assert (await session.scalars(select(Escalation))).all() == []


async def test_an_escalation_notifies_again_at_the_new_level(session: AsyncSession) -> None:
    await f.add_roster(session, now=datetime.now(UTC))  # the consumer asks "who now?"
    handle = alarm_handler(default_catalog(), grace=GRACE, caps=f.CAPS)
    alarm = f.alarm(Level.YELLOW)
    await handle(session, f.raised(alarm))
    await handle(session, f.escalated(alarm, Level.RED))
    rows = await notifications(session, alarm.alarm_id)
    yellow = {(c, p, ch) for lvl, c, p, ch in who(rows) if lvl == "yellow"}
    red = {(c, p, ch) for lvl, c, p, ch in who(rows) if lvl == "red"}
    assert len(yellow) == 6
    assert red == yellow | {("district", "d1", "in_app"), ("district", "d1", "sms")}
    assert all("红色" in r.message for r in rows if r.level == "red")


async def test_updates_that_do_not_escalate_and_clears_notify_nobody(
    session: AsyncSession,
) -> None:
    await f.add_roster(session, now=datetime.now(UTC))  # the consumer asks "who now?"
    handle = alarm_handler(default_catalog(), grace=GRACE, caps=f.CAPS)
    alarm = f.alarm(Level.RED)
    lower = f.escalated(alarm, Level.YELLOW)  # an "update" to a lower level
    await handle(session, lower)
    same = f.escalated(alarm.model_copy(update={"level": Level.YELLOW}), Level.YELLOW)
    await handle(session, same)
    cleared = AlarmCleared(alarm=alarm, cleared_at=f.NOW, reason="manual")
    await handle(session, new_event(cleared, source="/test", subject=alarm.alarm_id))
    assert await notifications(session, alarm.alarm_id) == []


async def test_a_center_with_nobody_on_duty_raises_one_duty_alert_and_the_rest_are_told(
    session: AsyncSession,
) -> None:
    await f.add_roster(session)
    alarm = f.alarm(Level.RED, dev=f.device("gas-gq", town_id="gaoqiao"))
    plan = await f.first_step(
        session, alarm=alarm, place="Gaoqiao Town", traceparent=None, now=f.NOW, grace=GRACE
    )
    assert plan.duty_center_ids == ["street-gaoqiao", "sector-construction", "district"]
    assert plan.uncovered == {"street-gaoqiao": "nobody on duty"}
    rows = await notifications(session, alarm.alarm_id)
    assert {r.person_id for r in rows} == {"s1", "d1"}
    # Never only a log line: a duty alert, one while the center stays empty.
    alerts = (await session.scalars(select(DutyAlert))).all()
    assert [(a.kind, a.duty_center_id, a.alarm_id) for a in alerts] == [
        ("nobody_on_duty", "street-gaoqiao", alarm.alarm_id)
    ]
    second = f.alarm(Level.RED, dev=f.device("gas-gq", town_id="gaoqiao"))
    await f.first_step(session, alarm=second, place=None, traceparent=None, now=f.NOW, grace=GRACE)
    assert len((await session.scalars(select(DutyAlert))).all()) == 1


async def test_an_alarm_whose_centers_are_empty_goes_to_the_next_level_up(
    session: AsyncSession,
) -> None:
    await f.add_roster(session)
    alarm = f.alarm(Level.YELLOW, dev=f.device("pw-1", town_id="gaoqiao", sector_id="power"))
    plan = await f.first_step(
        session, alarm=alarm, place=None, traceparent=None, now=f.NOW, grace=GRACE
    )
    # Nobody at the street center and no power sector center: the next level up takes it.
    assert plan.duty_center_ids == ["street-gaoqiao", "district"]
    assert {r.person_id for r in await notifications(session, alarm.alarm_id)} == {"d1"}


async def test_an_alarm_that_reaches_nobody_is_a_duty_alert(session: AsyncSession) -> None:
    await f.add_roster(session)
    later = f.NOW + timedelta(days=3)  # after every shift of the roster
    alarm = f.alarm(Level.RED)
    plan = await f.first_step(
        session, alarm=alarm, place=None, traceparent=None, now=later, grace=GRACE
    )
    assert plan.created == []
    alerts = (
        await session.scalars(select(DutyAlert).where(DutyAlert.alarm_id == alarm.alarm_id))
    ).all()
    kinds = sorted(a.kind for a in alerts)
    assert kinds.count("unreached_alarm") == 1
    assert "nobody_on_duty" in kinds
    unreached = next(a for a in alerts if a.kind == "unreached_alarm")
    assert "reached nobody" in unreached.detail
    assert "street-lujiazui" in unreached.detail
    # Planned again (a redelivery), nothing is raised twice.
    await f.first_step(session, alarm=alarm, place=None, traceparent=None, now=later, grace=GRACE)
    again = (
        await session.scalars(select(DutyAlert).where(DutyAlert.kind == "unreached_alarm"))
    ).all()
    assert len(again) == 1


async def test_accepting_the_work_order_stops_the_escalation(session: AsyncSession) -> None:
    await f.add_roster(session, now=datetime.now(UTC))  # the consumer asks "who now?"
    handle = alarm_handler(default_catalog(), grace=GRACE, caps=f.CAPS)
    alarm = f.alarm(Level.RED)
    await handle(session, f.raised(alarm))
    accepted_at = datetime.now(UTC)
    order = WorkOrderSnapshot(
        work_order_id="wo-1",
        alarm_id=alarm.alarm_id,
        level=Level.RED,
        status="accepted",
        sector_id="construction",
        scenario_id="gas",
        town_id="lujiazui",
        device_id="gas-001",
        created_at=accepted_at,
        due_at=accepted_at + timedelta(hours=2),
    )
    moved = WorkOrderStateChanged(
        work_order=order,
        action="accept",
        from_status="dispatched",
        to_status="accepted",
        actor="l1",
        changed_at=accepted_at,
    )
    await handle(session, new_event(moved, source="/test", subject=order.work_order_id))
    row = await session.get_one(Escalation, alarm.alarm_id)
    assert (row.status, row.acknowledged_by, row.acknowledged_at) == (
        "accepted",
        "l1",
        accepted_at,
    )
    assert row.next_step_at is None
