"""Escalation against real PostgreSQL on a controlled clock: a red alarm nobody acknowledges
walks through its steps in order (voice reminder, department head, district leader, repeats),
each once however often the escalator looks; an acknowledgement or the alarm clearing stops it;
a running escalation keeps the policy version it started with."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common.access import Role
from riskwatch.common.events import Level
from riskwatch.notify.escalation import service
from riskwatch.notify.escalation.domain import (
    DEFAULT_POLICIES,
    EscalationStatus,
    Over,
    Policy,
    Step,
    Target,
    TargetKind,
)
from riskwatch.notify.escalation.models import Escalation
from riskwatch.notify.notifications.domain import AckVia, ChannelKind
from riskwatch.notify.notifications.models import Notification
from riskwatch.notify.notifications.service import acknowledge_notification, fall_back_to_voice

from .. import factories as f

T0 = f.NOW


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def chain_of_command(session: AsyncSession) -> None:
    """The roster, plus the construction department's head and the district leader (with
    phones), and a head of another sector who must hear nothing."""
    await f.add_roster(session)
    await f.add_account(
        session, "head.build", "department_head", "sector:construction", phone="+8613800000101"
    )
    await f.add_account(session, "head.power", "department_head", "sector:power")
    await f.add_account(session, "mayor", "leader", "district", phone="+8613800000102")


async def sent(session: AsyncSession, alarm_id: str) -> list[tuple[int, int, str, str]]:
    rows = await session.scalars(
        select(Notification)
        .where(Notification.alarm_id == alarm_id)
        .order_by(
            Notification.round, Notification.step, Notification.person_id, Notification.channel
        )
    )
    return [(r.round, r.step, r.person_id, r.channel) for r in rows]


async def look(session: AsyncSession, minutes: float) -> int:
    return await service.advance_due(session, now=at(minutes), limit=50, grace=f.GRACE, caps=f.CAPS)


async def test_a_red_alarm_nobody_acknowledges_walks_its_steps_in_order(
    session: AsyncSession,
) -> None:
    await chain_of_command(session)
    alarm = f.alarm(Level.RED)
    await f.first_step(session, alarm=alarm, now=T0)
    on_duty = {"l1", "l3", "s1", "d1"}  # red: street, sector and district centers
    assert {(r, s, p, c) for r, s, p, c in await sent(session, alarm.alarm_id)} == {
        (0, 0, p, c) for p in on_duty for c in ("in_app", "sms")
    }
    assert await look(session, 2.9) == 0  # the reminder waits its 3 minutes
    assert await look(session, 3) == 1
    voice = [x for x in await sent(session, alarm.alarm_id) if x[1] == 1]
    assert voice == [(0, 1, p, "voice") for p in sorted(on_duty)]
    assert await look(session, 10) == 1
    head = [x for x in await sent(session, alarm.alarm_id) if x[1] == 2]
    assert head == [(0, 2, "head.build", c) for c in ("in_app", "sms", "voice")]
    assert await look(session, 20) == 1
    leader = [x for x in await sent(session, alarm.alarm_id) if x[1] == 3]
    assert leader == [(0, 3, "mayor", c) for c in ("in_app", "sms", "voice")]
    # Then the repeats: the reminder at 23, the head at 30, the leader at 40.
    assert await look(session, 41) == 1
    second_round = [x for x in await sent(session, alarm.alarm_id) if x[0] == 1]
    assert {(s, p) for _, s, p, _ in second_round} == {(1, p) for p in on_duty} | {
        (2, "head.build"),
        (3, "mayor"),
    }
    # Looking again at the same moment, or twice, fires nothing again.
    before = await sent(session, alarm.alarm_id)
    assert await look(session, 41) == 0
    assert await sent(session, alarm.alarm_id) == before
    assert await look(session, 61) == 1
    row = await session.get_one(Escalation, alarm.alarm_id)
    assert row.status == EscalationStatus.EXHAUSTED.value
    assert row.next_step_at is None
    assert await look(session, 600) == 0
    # "head.power" heads another sector: never told.
    assert all(p != "head.power" for _, _, p, _ in await sent(session, alarm.alarm_id))


async def test_an_acknowledgement_stops_the_walk(session: AsyncSession) -> None:
    await chain_of_command(session)
    alarm = f.alarm(Level.RED)
    await f.first_step(session, alarm=alarm, now=T0)
    assert await look(session, 3) == 1
    call = await session.scalar(
        select(Notification).where(
            Notification.alarm_id == alarm.alarm_id,
            Notification.person_id == "l1",
            Notification.channel == ChannelKind.VOICE.value,
        )
    )
    assert call is not None
    call.status = "sent"
    await session.flush()
    await acknowledge_notification(
        session, notification_id=call.notification_id, by="l1", via=AckVia.VOICE, now=at(4)
    )
    count = len(await sent(session, alarm.alarm_id))
    assert await look(session, 120) == 0
    assert len(await sent(session, alarm.alarm_id)) == count
    row = await session.get_one(Escalation, alarm.alarm_id)
    assert (row.status, row.acknowledged_by, row.acknowledged_via, row.stopped_at) == (
        "acknowledged",
        "l1",
        "voice",
        at(4),
    )


async def test_the_alarm_clearing_stops_the_walk(session: AsyncSession) -> None:
    await chain_of_command(session)
    alarm = f.alarm(Level.ORANGE)
    await f.first_step(session, alarm=alarm, now=T0)
    await service.clear_escalation(session, alarm_id=alarm.alarm_id, now=at(1))
    assert await look(session, 120) == 0
    assert {s for _, s, _, _ in await sent(session, alarm.alarm_id)} == {0}
    assert (await session.get_one(Escalation, alarm.alarm_id)).status == "cleared"


async def test_a_higher_level_restarts_with_its_policy(session: AsyncSession) -> None:
    await chain_of_command(session)
    alarm = f.alarm(Level.YELLOW)
    await f.first_step(session, alarm=alarm, now=T0)
    red = alarm.model_copy(update={"level": Level.RED})
    plans = await service.start_escalation(
        session, alarm=red, place=None, traceparent=None, now=at(5), grace=f.GRACE, caps=f.CAPS
    )
    assert len(plans) == 1
    row = await session.get_one(Escalation, alarm.alarm_id)
    assert (row.level, row.next_step, row.next_step_at) == ("red", 1, at(8))
    # The same level again (a redelivered event) changes nothing.
    assert (
        await service.start_escalation(
            session, alarm=red, place=None, traceparent=None, now=at(6), grace=f.GRACE, caps=f.CAPS
        )
        == []
    )


async def test_two_escalators_looking_at_once_fire_a_step_once(
    committing_sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Two processes' escalators on two connections: the second skips the row the first
    holds, and once the first commits the step is no longer due."""
    sessions = committing_sessions
    alarm = f.alarm(Level.RED)
    async with sessions() as session, session.begin():
        await chain_of_command(session)
        await f.first_step(session, alarm=alarm, now=T0)
    async with sessions() as one, one.begin():
        assert await look(one, 3) == 1
        async with sessions() as two, two.begin():
            assert await look(two, 3) == 0  # locked by the first: skipped
    async with sessions() as three, three.begin():
        assert await look(three, 3) == 0  # committed: nothing due any more
        voice = [x for x in await sent(three, alarm.alarm_id) if x[3] == "voice"]
        assert len(voice) == len({p for _, _, p, _ in voice}) == 4


async def test_a_running_escalation_keeps_its_policy_version(session: AsyncSession) -> None:
    await chain_of_command(session)
    alarm = f.alarm(Level.RED)
    await f.first_step(session, alarm=alarm, now=T0)
    quick = Policy(
        steps=(
            Step(0, (Target(TargetKind.ON_DUTY),), (ChannelKind.IN_APP,)),
            Step(1, (Target(TargetKind.DISTRICT_LEADER),), (ChannelKind.IN_APP,)),
        )
    )
    version = await service.put_policies(
        session, policies={Level.RED: quick}, by="admin", now=at(1)
    )
    assert version.version == 1
    assert (await service.current_policies(session))[1][Level.RED] == quick
    assert (await service.current_policies(session))[1][Level.BLUE] == DEFAULT_POLICIES[Level.BLUE]
    assert await look(session, 1.5) == 0  # still waiting for the default's 3-minute reminder
    assert await look(session, 3) == 1
    assert {c for _, s, _, c in await sent(session, alarm.alarm_id) if s == 1} == {"voice"}
    # A new alarm takes the new version.
    second = f.alarm(Level.RED)
    await f.first_step(session, alarm=second, now=at(2))
    assert (await session.get_one(Escalation, second.alarm_id)).policy_version == 1
    assert await look(session, 3) == 1  # only the second's: the first waits for minute 10
    assert [x for x in await sent(session, second.alarm_id) if x[1] == 1] == [
        (0, 1, "mayor", "in_app")
    ]


async def test_a_voice_fallback_says_the_voice_text_and_is_not_a_second_call(
    session: AsyncSession,
) -> None:
    await chain_of_command(session)
    alarm = f.alarm(Level.RED)
    await f.first_step(session, alarm=alarm, now=T0)
    sms = await session.scalar(
        select(Notification).where(
            Notification.alarm_id == alarm.alarm_id,
            Notification.person_id == "l1",
            Notification.channel == "sms",
        )
    )
    assert sms is not None
    [call_id] = await fall_back_to_voice(session, sms=sms, now=at(1))
    call = await session.get_one(Notification, call_id)
    assert (call.channel, call.step, call.fallback_of) == ("voice", 0, sms.notification_id)
    assert "按1" in call.message  # the voice template, read out; not the SMS's "reply QS"
    assert "QS" not in call.message
    # The department head's step calls them anyway: their SMS failing adds no second call.
    assert await look(session, 10) == 1
    head_sms = await session.scalar(
        select(Notification).where(
            Notification.alarm_id == alarm.alarm_id,
            Notification.person_id == "head.build",
            Notification.channel == "sms",
        )
    )
    assert head_sms is not None
    assert await fall_back_to_voice(session, sms=head_sms, now=at(11)) == []


async def test_a_role_target_reaches_the_accounts_holding_it_over_the_alarm_s_place(
    session: AsyncSession,
) -> None:
    await chain_of_command(session)
    await f.add_account(session, "lj.patrol", "handler", "town:lujiazui", phone="+8613800000201")
    await f.add_account(session, "gq.patrol", "handler", "town:gaoqiao")
    await f.add_account(session, "district.handler", "handler", "district")
    policy = Policy(
        steps=(
            Step(
                0,
                (Target(TargetKind.ROLE, role=Role.HANDLER, over=Over.TOWN),),
                (ChannelKind.IN_APP, ChannelKind.SMS),
            ),
        )
    )
    await service.put_policies(session, policies={Level.BLUE: policy}, by="admin", now=T0)
    alarm = f.alarm(Level.BLUE)  # in Lujiazui
    [plan] = await service.start_escalation(
        session, alarm=alarm, place=None, traceparent=None, now=T0, grace=f.GRACE, caps=f.CAPS
    )
    assert plan.recipients == ["lj.patrol"]
    rows = await sent(session, alarm.alarm_id)
    assert rows == [(0, 0, "lj.patrol", "in_app"), (0, 0, "lj.patrol", "sms")]
    sms = await session.scalar(
        select(Notification).where(
            Notification.alarm_id == alarm.alarm_id, Notification.channel == "sms"
        )
    )
    assert sms is not None
    assert (sms.recipient, sms.duty_center_id) == ("+8613800000201", "street-lujiazui")
