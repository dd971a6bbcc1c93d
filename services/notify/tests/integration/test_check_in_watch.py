"""A missed check-in, on a controlled clock against the real PostgreSQL: within the grace period
nothing happens; after it the center gets one duty alert, its leader is told once, and its
alarms also go to the next level up; a check-in (late) ends both."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.events import Level
from riskwatch.notify.duty import service
from riskwatch.notify.duty.domain import Attendance
from riskwatch.notify.duty.models import DutyAlert, DutyCenter, Shift
from riskwatch.notify.duty.watch import watch_check_ins
from riskwatch.notify.notifications.models import Notification

from .. import factories as f

TZ = ZoneInfo("Asia/Shanghai")
# l3's shift at the Lujiazui street center starts exactly at NOW (factories' roster).
START = f.NOW


async def notices(session: AsyncSession, topic: str) -> list[Notification]:
    rows = await session.scalars(select(Notification).where(Notification.topic == topic))
    return list(rows)


async def test_a_missed_check_in_tells_the_leader_once_and_falls_back_until_someone_checks_in(
    session: AsyncSession,
) -> None:
    # Everyone else on duty has checked in; at Lujiazui only l3 is on duty, from START, and
    # has not.
    await f.add_roster(session)
    l1 = await session.get(Shift, "shift-l1")
    l3 = await session.get(Shift, "shift-l3")
    center = await session.get(DutyCenter, "street-lujiazui")
    assert l1 is not None
    assert l3 is not None
    assert center is not None
    l1.ends_at = START
    l3.checked_in_at = l3.checked_in_via = l3.checked_in_late = None
    center.leader_id = "l2"  # a member, off duty now
    await session.flush()

    # Within the grace period: awaited, nothing raised, nobody told.
    early = START + f.GRACE - timedelta(minutes=1)
    assert await watch_check_ins(session, now=early, grace=f.GRACE, tz=TZ) == 0
    staffing = await service.staffing_at(
        session, duty_center_ids=["street-lujiazui"], at=early, grace=f.GRACE
    )
    assert staffing["street-lujiazui"].attendance is Attendance.AWAITED

    # After it: one alert for the center, its leader told in the app and by SMS.
    late = START + f.GRACE + timedelta(minutes=1)
    assert await watch_check_ins(session, now=late, grace=f.GRACE, tz=TZ) == 2
    told = await notices(session, "check_in")
    leader_notices = [n for n in told if n.duty_center_id == "street-lujiazui"]
    assert sorted((n.person_id, n.channel) for n in leader_notices) == [
        ("l2", "in_app"),
        ("l2", "sms"),
    ]
    # In the leader's locale (zh-CN by default; see test_templates_notices.py).
    assert "street-lujiazui" in leader_notices[0].message
    assert "03:00班次开始15分钟后仍无人报到" in leader_notices[0].message
    # Watching again changes nothing: once per shift.
    assert (
        await watch_check_ins(session, now=late + timedelta(minutes=5), grace=f.GRACE, tz=TZ) == 0
    )
    alerts = (
        await session.scalars(
            select(DutyAlert).where(DutyAlert.duty_center_id == "street-lujiazui")
        )
    ).all()
    assert [(a.kind, a.resolved_at) for a in alerts] == [("missed_check_in", None)]

    # A yellow alarm there now also reaches the district (the street center's fallback).
    alarm = f.alarm(Level.YELLOW)
    plan = await f.first_step(
        session, alarm=alarm, place=None, traceparent=None, now=late, grace=f.GRACE
    )
    assert plan.duty_center_ids == ["street-lujiazui", "sector-construction", "district"]
    assert "street-lujiazui" in plan.uncovered

    # l3 checks in (late): the alert resolves and the next alarm stays local.
    shift = await service.check_in(session, person_id="l3", at=late, via="api", grace=f.GRACE)
    assert (shift.checked_in_late, shift.checked_in_via) == (True, "api")
    resolved = (
        await session.scalars(
            select(DutyAlert).where(DutyAlert.duty_center_id == "street-lujiazui")
        )
    ).all()
    assert [a.kind for a in resolved] == ["missed_check_in"]
    assert all(a.resolved_at == late for a in resolved)
    second = f.alarm(Level.YELLOW)
    plan = await f.first_step(
        session, alarm=second, place=None, traceparent=None, now=late, grace=f.GRACE
    )
    assert plan.duty_center_ids == ["street-lujiazui", "sector-construction"]
    assert plan.uncovered == {}
