"""Notices of devices offline and back online through the consumer's handler, against real
PostgreSQL: the technical staff whose scope covers the device hear of it, nobody else; once
however often an event comes; no escalation, no handover item; an outage of many devices at
once stays within each person's SMS caps."""

# ruff: noqa: RUF001  (the expected Chinese texts use full-width punctuation)

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.catalog import default_catalog
from riskwatch.common.events import EventPayload, Level
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.inbox import EventHandler
from riskwatch.notify.duty.models import OpenItem
from riskwatch.notify.escalation.models import Escalation
from riskwatch.notify.notifications.handlers import alarm_handler
from riskwatch.notify.notifications.models import Notification

from .. import factories as f

NOW = f.NOW
BACK = NOW + timedelta(hours=2, minutes=5)


def handler() -> EventHandler:
    return alarm_handler(default_catalog(), grace=f.GRACE, caps=f.CAPS, clock=lambda: NOW)


async def setting(session: AsyncSession) -> None:
    """The duty roster (f.add_roster: l1, l3 on duty at Lujiazui, ...), and the technical staff:
    - tech.lujiazui, tech_admin of the town of Lujiazui (with a phone);
    - tech.gaoqiao, tech_admin of another town (with a phone);
    - techlead, tech_lead of the district (with a phone, reads English);
    - tech.build, tech_lead of the construction sector (an account only: the app);
    - tech.gone, a disabled tech_admin of the district; ops, a business_admin of the district."""
    await f.add_roster(session, now=NOW)
    phone = f.phone_of
    await f.add_account(
        session, "tech.lujiazui", "tech_admin", "town:lujiazui", phone=phone("tech.lujiazui")
    )
    await f.add_account(
        session, "tech.gaoqiao", "tech_admin", "town:gaoqiao", phone=phone("tech.gaoqiao")
    )
    await f.add_account(
        session, "techlead", "tech_lead", "district", phone=phone("techlead"), locale="en"
    )
    await f.add_account(session, "tech.build", "tech_lead", "sector:construction")
    await f.add_account(session, "tech.gone", "tech_admin", "district", disabled=True)
    await f.add_account(session, "ops", "business_admin", "district")


async def notices(session: AsyncSession) -> list[Notification]:
    """Every notification, of any topic: none may reach anyone but the technical staff."""
    rows = await session.scalars(
        select(Notification).order_by(
            Notification.person_id, Notification.channel, Notification.idempotency_key
        )
    )
    return list(rows)


def who(rows: list[Notification]) -> set[tuple[str, str]]:
    return {(r.person_id, r.channel) for r in rows}


async def handled_three_times(
    session: AsyncSession, handle: EventHandler, envelope: Envelope[EventPayload]
) -> list[Notification]:
    return await f.handled_three_times(session, handle, envelope, read=notices)


async def test_a_device_offline_tells_the_technical_staff_over_it_and_nobody_else(
    session: AsyncSession,
) -> None:
    await setting(session)
    alarm = f.offline(alarm_id="0ff11e00-0000-4000-8000-000000000001")
    rows = await handled_three_times(session, handler(), f.raised(alarm))
    # The town's and the district's technical staff, and the sector's (in the app: no phone).
    # Not the other town's tech_admin, the disabled one, the business admin, the duty staff.
    assert who(rows) == {
        ("tech.lujiazui", "in_app"),
        ("tech.lujiazui", "sms"),
        ("techlead", "in_app"),
        ("techlead", "sms"),
        ("tech.build", "in_app"),
    }
    by = {(r.person_id, r.channel): r for r in rows}
    sms = by["tech.lujiazui", "sms"]
    assert sms.message == (
        "【RiskWatch】设备离线：Lujiazui Street Gas well 1(gas-001)自11-02 03:00起未上报数据"
        "（技术告警0ff11e00）。请检查设备及通信链路。"
    )
    assert sms.recipient == f.phone_of("tech.lujiazui")
    assert sms.idempotency_key == f"device:{alarm.alarm_id}:offline:tech.lujiazui:sms"
    assert by["techlead", "in_app"].message == (
        "Device offline: Lujiazui Street Gas well 1 (gas-001) has sent nothing since 11-02 03:00"
        " (technical alarm 0ff11e00). Check the device, its gateway and the link."
    )
    # Not a safety alarm's notice: no alarm id, no level; the device's place for org scopes.
    assert {(r.topic, r.alarm_id, r.level, r.sector_id, r.town_id) for r in rows} == {
        ("device", None, None, "construction", "lujiazui")
    }
    assert {(r.duty_center_id, r.status, r.step, r.round) for r in rows} == {
        ("district", "pending", 0, 0)
    }
    assert by["techlead", "sms"].locale == "en"
    # The alarm event's trace continues through its notices.
    trace_id = f.TRACEPARENT.split("-")[1]
    assert all((r.traceparent or "").split("-")[1] == trace_id for r in rows)
    # No escalation (no reminder, no voice call), no handover item.
    assert (await session.scalars(select(Escalation))).all() == []
    assert (await session.scalars(select(OpenItem))).all() == []


async def test_back_online_tells_the_same_people_in_the_app(session: AsyncSession) -> None:
    await setting(session)
    handle = handler()
    alarm = f.offline(alarm_id="0ff11e00-0000-4000-8000-000000000002")
    await handle(session, f.raised(alarm))
    offline = {r.notification_id for r in await notices(session)}
    rows = [
        r
        for r in await handled_three_times(session, handle, f.cleared(alarm, at=BACK))
        if r.notification_id not in offline
    ]
    assert who(rows) == {
        ("tech.lujiazui", "in_app"),
        ("techlead", "in_app"),
        ("tech.build", "in_app"),
    }
    by = {r.person_id: r for r in rows}
    assert by["tech.lujiazui"].message == (
        "设备恢复在线：Lujiazui Street Gas well 1(gas-001)于11-02 05:05恢复上报，离线2小时5分钟"
        "（技术告警0ff11e00已解除）。"
    )
    assert by["techlead"].message == (
        "Device back online: Lujiazui Street Gas well 1 (gas-001) reporting again since"
        " 11-02 05:05, offline for 2 h 5 min (technical alarm 0ff11e00 cleared)."
    )
    assert by["techlead"].idempotency_key == f"device:{alarm.alarm_id}:online:techlead:in_app"
    # The next outage of the same device is a new alarm: told again.
    later = f.offline(alarm_id="0ff11e00-0000-4000-8000-000000000003")
    created = len(await notices(session))
    await handle(session, f.raised(later))
    assert len(await notices(session)) == created + 5


async def test_what_is_no_offline_or_recovery_tells_nobody(session: AsyncSession) -> None:
    await setting(session)
    handle = handler()
    alarm = f.offline()
    await handle(session, f.escalated(alarm, Level.YELLOW))  # a technical alarm's update
    await handle(session, f.cleared(alarm, at=BACK, reason="manual"))  # not "back online"
    # A safety alarm reaches the duty staff, never the technical staff.
    await handle(session, f.raised(f.alarm(Level.RED)))
    rows = await notices(session)
    assert rows
    assert {r.topic for r in rows} == {"alarm"}
    assert not {r.person_id for r in rows} & {"tech.lujiazui", "techlead", "tech.build"}


async def test_a_device_nobody_covers_is_logged_and_sends_nothing(session: AsyncSession) -> None:
    await f.add_account(session, "tech.gaoqiao", "tech_admin", "town:gaoqiao")
    await handler()(session, f.raised(f.offline()))
    assert await notices(session) == []


async def test_an_outage_of_500_devices_sends_each_person_a_few_sms_and_one_digest(
    session: AsyncSession,
) -> None:
    """A gateway or network outage takes 500 devices offline at once. Each person's SMS go
    through the storm caps (10 a window by default): the first 10 go, the other 490 are held
    back and counted in one digest due when the window ends; every notice stays in the app."""
    await setting(session)
    handle = handler()
    for n in range(500):
        await handle(session, f.raised(f.offline(f.device(f"gas-{n:03d}"))))
    rows = await notices(session)
    for person in ("tech.lujiazui", "techlead"):
        mine = [r for r in rows if r.person_id == person and r.topic == "device"]
        sms = [r for r in mine if r.channel == "sms"]
        assert len(sms) == 500, person
        assert [r.status for r in sms].count("pending") == 10, person
        held = [r for r in sms if r.status == "suppressed"]
        assert len(held) == 490, person
        (digest,) = [r for r in rows if r.person_id == person and r.topic == "digest"]
        assert {r.digest_id for r in held} == {digest.notification_id}
        assert digest.status == "pending"
        assert digest.next_attempt_at == NOW + timedelta(minutes=10)  # the window's end
        assert "490" in digest.message, digest.message
        app = [r for r in mine if r.channel == "in_app"]
        assert [r.status for r in app] == ["pending"] * 500, person
    assert len([r for r in rows if r.person_id == "tech.build"]) == 500  # the app only
    assert not {r.person_id for r in rows} - {"tech.lujiazui", "techlead", "tech.build"}
