"""Notices about work orders through the consumer's handler, against real PostgreSQL: who hears
of a dispatch, a stage limit near and passed, a higher loop tier and the weekly bulletin; once
however often an event comes; supervisors' SMS within the storm caps, never silently."""

# ruff: noqa: RUF001  (the expected Chinese texts use full-width punctuation)

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.catalog import default_catalog
from riskwatch.common.events import EventPayload, Level, new_event
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.events.workorders import (
    BulletinUnit,
    WorkOrderAction,
    WorkOrderBulletinPublished,
    WorkOrderDeadlineApproaching,
    WorkOrderOverdue,
    WorkOrderSnapshot,
    WorkOrderStateChanged,
    WorkOrderStatus,
)
from riskwatch.common.inbox import EventHandler
from riskwatch.notify.duty.models import DutyCenter, DutyMember, Person
from riskwatch.notify.escalation.models import Escalation
from riskwatch.notify.notifications.handlers import alarm_handler
from riskwatch.notify.notifications.models import Notification

from .. import factories as f

NOW = f.NOW
DUE = NOW + timedelta(minutes=30)


def handler() -> EventHandler:
    # The clock is the test's: "who is on duty now" is asked at NOW.
    return alarm_handler(default_catalog(), grace=f.GRACE, caps=f.CAPS, clock=lambda: NOW)


def order(
    *,
    work_order_id: str = "5e6f7a8b-0000-4000-8000-000000000001",
    unit_id: str | None = "street-lujiazui",
    assignee: str | None = None,
    tier: str = "small",
    status: WorkOrderStatus = "dispatched",
    sector_id: str = "construction",
    town_id: str | None = "lujiazui",
) -> WorkOrderSnapshot:
    return WorkOrderSnapshot.model_validate(
        {
            "work_order_id": work_order_id,
            "alarm_id": "1a2b3c4d-0000-4000-8000-000000000001",
            "level": "red",
            "status": status,
            "sector_id": sector_id,
            "scenario_id": "gas",
            "town_id": town_id,
            "device_id": "gas-001",
            "created_at": NOW - timedelta(minutes=10),
            "due_at": NOW + timedelta(hours=4),
            "tier": tier,
            "unit_id": unit_id,
            "assignee": assignee,
            "stage": "accept",
            "stage_due_at": DUE,
            "deadlines": {"accept": DUE, "close": NOW + timedelta(hours=4)},
        }
    )


def event(payload: EventPayload) -> Envelope[EventPayload]:
    return new_event(payload, source="/test", subject="wo")


def moved(
    snap: WorkOrderSnapshot, action: WorkOrderAction, *, actor: str = "dispatcher"
) -> Envelope[EventPayload]:
    return event(
        WorkOrderStateChanged(
            work_order=snap,
            action=action,
            from_status="created",
            to_status=snap.status,
            actor=actor,
            changed_at=NOW - timedelta(minutes=1),
        )
    )


def overdue(snap: WorkOrderSnapshot) -> Envelope[EventPayload]:
    return event(
        WorkOrderOverdue(work_order=snap, stage="accept", stage_due_at=DUE, overdue_at=DUE)
    )


async def setting(session: AsyncSession) -> None:
    """The tests' roster (on duty now: d1 at the district, s1 at the construction sector, l1 and
    l3 at Lujiazui, nobody at Gaoqiao), and:
    - h1, a member of Lujiazui off duty, who reads English: the assignee;
    - l2 (off duty) leads Lujiazui; dl leads the district;
    - head.build heads construction (with a phone), head.power heads power (an account only),
      head.gone a disabled head."""
    await f.add_roster(session, now=NOW)
    session.add(Person(person_id="h1", name="Handler One", phone="+8613900000001", locale="en"))
    session.add(Person(person_id="dl", name="District Leader", phone="+8613900000002"))
    session.add(Person(person_id="head.build", name="Head Build", phone="+8613900000003"))
    await session.flush()
    session.add(DutyMember(duty_center_id="street-lujiazui", person_id="h1", added_at=NOW))
    session.add(DutyMember(duty_center_id="district", person_id="dl", added_at=NOW))
    await session.flush()
    (await session.get_one(DutyCenter, "street-lujiazui")).leader_id = "l2"
    (await session.get_one(DutyCenter, "district")).leader_id = "dl"
    await f.add_account(session, "head.build", "department_head", "sector:construction")
    await f.add_account(session, "head.power", "department_head", "sector:power")
    await f.add_account(
        session, "head.gone", "department_head", "sector:construction", disabled=True
    )
    await session.flush()


async def notices(session: AsyncSession) -> list[Notification]:
    rows = await session.scalars(
        select(Notification)
        .where(Notification.topic == "work_order")
        .order_by(Notification.person_id, Notification.channel, Notification.idempotency_key)
    )
    return list(rows)


def who(rows: list[Notification]) -> set[tuple[str, str]]:
    return {(r.person_id, r.channel) for r in rows}


def both(*people: str) -> set[tuple[str, str]]:
    return {(p, c) for p in people for c in ("in_app", "sms")}


async def handled_three_times(
    session: AsyncSession, handle: EventHandler, envelope: Envelope[EventPayload]
) -> list[Notification]:
    return await f.handled_three_times(session, handle, envelope, read=notices)


# -- dispatched -----------------------------------------------------------------------------------


async def test_a_dispatch_tells_the_assignee_alone_in_their_language(
    session: AsyncSession,
) -> None:
    await setting(session)
    handle = handler()
    rows = await handled_three_times(session, handle, moved(order(assignee="h1"), "dispatch"))
    assert who(rows) == both("h1")
    sms = next(r for r in rows if r.channel == "sms")
    assert sms.recipient == "+8613900000001"
    assert sms.idempotency_key == "workorder:" + ":".join(
        [order().work_order_id, "handed", "dispatch", "20261101T185900Z", "h1", "sms"]
    )
    # Local time (Asia/Shanghai): the accept limit 19:30 UTC is 03:30.
    assert sms.message == (
        "[RiskWatch] Work order 5e6f7a8b (red) dispatched to you: Lujiazui Street, accepting due"
        " 11-02 03:30. Accept it in the duty app."
    )
    # Not an alarm's notice: no alarm_id (the order is in the key), its place and level kept.
    assert (sms.alarm_id, sms.level, sms.sector_id, sms.town_id, sms.locale) == (
        None,
        "red",
        "construction",
        "lujiazui",
        "en",
    )
    assert sms.duty_center_id == "street-lujiazui"
    assert sms.status == "pending"


async def test_a_dispatch_to_a_unit_tells_its_people_on_duty_but_the_dispatcher(
    session: AsyncSession,
) -> None:
    await setting(session)
    rows = await handled_three_times(session, handler(), moved(order(), "dispatch", actor="l3"))
    assert who(rows) == both("l1")  # l3 dispatched it: not told of their own move
    sms = next(r for r in rows if r.channel == "sms")
    assert sms.message == (
        "【RiskWatch】工单5e6f7a8b（红色）已派给street-lujiazui：Lujiazui Street，"
        "接单时限11-02 03:30。请在值班应用中接单处置。"
    )


async def test_a_unit_with_nobody_on_duty_hands_the_notice_to_its_fallback(
    session: AsyncSession,
) -> None:
    await setting(session)
    snap = order(unit_id="street-gaoqiao", town_id="gaoqiao")
    rows = await handled_three_times(session, handler(), moved(snap, "transfer"))
    assert who(rows) == both("d1")
    assert {r.duty_center_id for r in rows} == {"district"}
    assert all("转派给" in r.message for r in rows)


async def test_a_transfer_and_a_reopening_notify_anew_other_moves_notify_nobody(
    session: AsyncSession,
) -> None:
    await setting(session)
    handle = handler()
    snap = order(assignee="h1")
    for action in ("accept", "arrive", "clear", "feedback", "review", "close", "supervise"):
        await handle(session, moved(snap, action))
    await handle(session, moved(snap.model_copy(update={"tier": "small"}), "escalate_tier"))
    assert await notices(session) == []
    await handle(session, moved(snap, "dispatch"))
    later = WorkOrderStateChanged(
        work_order=snap,
        action="reopen",
        from_status="closed",
        to_status="dispatched",
        actor="leader",
        changed_at=NOW,
    )
    await handle(session, event(later))
    rows = await notices(session)
    assert len(rows) == 4  # h1, in the app and by SMS, for each move
    assert sum("reopened for you" in r.message for r in rows) == 2


# -- stage limits -------------------------------------------------------------------------------


async def test_a_stage_limit_near_reminds_the_assignee_and_the_units_people_on_duty(
    session: AsyncSession,
) -> None:
    await setting(session)
    near = WorkOrderDeadlineApproaching(
        work_order=order(assignee="h1"),
        stage="accept",
        stage_due_at=DUE,
        reminded_at=DUE - timedelta(minutes=6),
    )
    rows = await handled_three_times(session, handler(), event(near))
    assert who(rows) == both("h1", "l1", "l3")
    english = next(r for r in rows if r.person_id == "h1" and r.channel == "sms")
    assert "accepting due at 11-02 03:30, 6 min left" in english.message
    chinese = next(r for r in rows if r.person_id == "l1" and r.channel == "sms")
    assert "接单时限将至：须在11-02 03:30前完成，还剩6分钟" in chinese.message
    assert chinese.idempotency_key.startswith(
        f"workorder:{order().work_order_id}:due:accept:20261101T193000Z:"
    )


async def test_an_overdue_stage_also_reaches_the_units_leader_and_the_sectors_heads(
    session: AsyncSession,
) -> None:
    await setting(session)
    rows = await handled_three_times(session, handler(), overdue(order(assignee="h1")))
    # head.power heads another sector, head.gone is disabled; l2 leads Lujiazui (off duty).
    assert who(rows) == both("h1", "l1", "l3", "l2", "head.build")
    by = {(r.person_id, r.channel): r for r in rows}
    assert by["head.build", "sms"].duty_center_id == "sector-construction"
    assert by["l2", "sms"].duty_center_id == "street-lujiazui"
    assert "接单已超时（时限11-02 03:30）" in by["l2", "sms"].message
    assert "处置人h1" in by["l2", "sms"].message
    # A supervision's later limit is a new occasion: told again.
    later = DUE + timedelta(hours=1)
    again = WorkOrderOverdue(
        work_order=order(assignee="h1"), stage="accept", stage_due_at=later, overdue_at=later
    )
    await handler()(session, event(again))
    assert len(await notices(session)) == 2 * len(rows)


async def test_a_wave_of_overdue_orders_caps_the_supervisors_sms_into_a_digest(
    session: AsyncSession,
) -> None:
    """The storm caps (10 SMS a window by default) hold back a supervisor's SMS beyond them,
    counted in their digest; the notice stays in the app. The people who must act are never
    held back."""
    await setting(session)
    handle = handler()
    orders = [order(work_order_id=f"wo-{n:02d}", assignee="h1") for n in range(12)]
    for snap in orders:
        await handle(session, overdue(snap))
    rows = await notices(session)
    head_sms = [r for r in rows if r.person_id == "head.build" and r.channel == "sms"]
    assert len(head_sms) == 12
    assert sum(r.status == "suppressed" for r in head_sms) == 2
    assert all(r.digest_id is not None for r in head_sms if r.status == "suppressed")
    digest = await session.scalars(
        select(Notification).where(
            Notification.topic == "digest", Notification.person_id == "head.build"
        )
    )
    assert len(list(digest)) == 1
    head_app = [r for r in rows if r.person_id == "head.build" and r.channel == "in_app"]
    assert [r.status for r in head_app] == ["pending"] * 12
    for person in ("h1", "l1", "l3"):
        mine = [r for r in rows if r.person_id == person and r.channel == "sms"]
        assert [r.status for r in mine] == ["pending"] * 12, person


# -- loop tiers ---------------------------------------------------------------------------------


async def test_the_medium_loop_reaches_the_sectors_heads_and_the_big_loop_the_district(
    session: AsyncSession,
) -> None:
    await setting(session)
    handle = handler()
    medium = order(assignee="h1", tier="medium")
    rows = await handled_three_times(session, handle, moved(medium, "escalate_tier"))
    assert who(rows) == both("head.build")
    assert "已升级为中闭环" in rows[0].message
    big = order(assignee="h1", tier="big")
    await handle(session, moved(big, "escalate_tier", actor="head.build"))
    tiers = [r for r in await notices(session) if ":tier:big:" in r.idempotency_key]
    assert who(tiers) == both("d1", "dl")  # on duty at the district, and its leader
    assert {r.duty_center_id for r in tiers} == {"district"}


# -- the weekly bulletin ------------------------------------------------------------------------


async def test_the_bulletin_goes_to_every_department_head_once(session: AsyncSession) -> None:
    await setting(session)
    bulletin = WorkOrderBulletinPublished(
        bulletin_id="2026-W45",
        week_start=NOW - timedelta(days=7),
        week_end=NOW,
        units=[
            BulletinUnit(
                unit_id="street-lujiazui", overdue_open=1, closed_late=0, work_order_ids=["a"]
            ),
            BulletinUnit(
                unit_id="sector-construction",
                overdue_open=3,
                closed_late=2,
                work_order_ids=["b", "c", "d", "e", "f"],
            ),
        ],
        published_at=NOW,
    )
    rows = await handled_three_times(session, handler(), event(bulletin))
    # head.power has no phone in notify: the app only. head.gone is disabled.
    assert who(rows) == both("head.build") | {("head.power", "in_app")}
    sms = next(r for r in rows if r.channel == "sms")
    assert sms.message == (
        "【RiskWatch】超时处置通报（10-26至11-02）：超时未结4件，超时办结2件："
        "sector-construction未结3迟结2、street-lujiazui未结1迟结0。详见值班应用。"
    )
    assert (sms.alarm_id, sms.level, sms.duty_center_id) == (None, None, "district")
    assert sms.idempotency_key == "bulletin:2026-W45:head.build:sms"


# -- what stays ---------------------------------------------------------------------------------


async def test_accepting_stops_the_alarms_escalation_and_tells_nobody(
    session: AsyncSession,
) -> None:
    await setting(session)
    handle = handler()
    alarm = f.alarm(Level.RED, alarm_id=order().alarm_id)
    await handle(session, f.raised(alarm))
    accepted = order(assignee="h1", status="accepted")
    await handle(session, moved(accepted, "accept", actor="h1"))
    row = await session.get_one(Escalation, alarm.alarm_id)
    assert (row.status, row.acknowledged_by) == ("accepted", "h1")
    assert await notices(session) == []
