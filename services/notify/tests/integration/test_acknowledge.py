"""Acknowledging a notification (签收): by its person or their center's leader only, once,
idempotently, by API or SMS reply; the first acknowledgement stops the alarm's escalation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.access import DISTRICT
from riskwatch.common.auth import Principal
from riskwatch.common.errors import Forbidden, InvalidState, NotFound
from riskwatch.common.events import Level, decode
from riskwatch.common.events.notifications import NotificationAcknowledged
from riskwatch.notify.duty.models import DutyCenter
from riskwatch.notify.escalation.models import Escalation
from riskwatch.notify.models import outbox
from riskwatch.notify.notifications.domain import AckVia, parse_ack_reply
from riskwatch.notify.notifications.models import Notification
from riskwatch.notify.notifications.service import acknowledge_by_reply, acknowledge_notification

from .. import factories as f


def caller(username: str) -> Principal:
    return Principal(subject=username, roles=("handler",), scope=DISTRICT)


async def outbox_events(session: AsyncSession) -> list[object]:
    rows = (await session.execute(select(outbox.table).order_by(outbox.table.c.id))).all()
    return [decode([(k, v.encode()) for k, v in r.headers.items()], r.value).data for r in rows]


async def delivered(session: AsyncSession, alarm_id: str) -> list[Notification]:
    await session.execute(
        update(Notification).where(Notification.alarm_id == alarm_id).values(status="delivered")
    )
    rows = await session.scalars(
        select(Notification)
        .where(Notification.alarm_id == alarm_id)
        .order_by(Notification.person_id, Notification.channel)
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def test_the_person_notified_acknowledges_once_and_the_escalation_stops(
    session: AsyncSession,
) -> None:
    await f.add_roster(session)
    alarm = f.alarm(Level.RED)
    plan = await f.first_step(session, alarm=alarm)
    row = await session.get_one(Notification, plan.created[0])
    with pytest.raises(InvalidState):  # still pending: it has reached nobody yet
        await acknowledge_notification(
            session,
            notification_id=row.notification_id,
            by=row.person_id,
            via=AckVia.API,
            now=f.NOW,
            caller=caller(row.person_id),
        )
    rows = await delivered(session, alarm.alarm_id)
    mine = next(r for r in rows if r.person_id == "l1" and r.channel == "in_app")
    first = await acknowledge_notification(
        session,
        notification_id=mine.notification_id,
        by="l1",
        via=AckVia.API,
        now=f.NOW,
        caller=caller("l1"),
    )
    assert (first.status, first.acknowledged_by, first.acknowledged_at) == (
        "acknowledged",
        "l1",
        f.NOW,
    )
    assert first.acknowledged_via == "api"
    later = f.NOW + timedelta(minutes=5)
    second = await acknowledge_notification(
        session,
        notification_id=mine.notification_id,
        by="l1",
        via=AckVia.API,
        now=later,
        caller=caller("l1"),
    )
    assert (second.acknowledged_by, second.acknowledged_at) == ("l1", f.NOW)
    events = [e for e in await outbox_events(session) if isinstance(e, NotificationAcknowledged)]
    assert [(e.notification.notification_id, e.acknowledged_by, e.via) for e in events] == [
        (mine.notification_id, "l1", "api")
    ]
    escalation = await session.get_one(Escalation, alarm.alarm_id)
    assert (escalation.status, escalation.acknowledged_by, escalation.acknowledged_via) == (
        "acknowledged",
        "l1",
        "api",
    )
    assert escalation.next_step_at is None


async def test_someone_else_may_not_acknowledge_but_the_center_s_leader_may(
    session: AsyncSession,
) -> None:
    await f.add_roster(session)
    alarm = f.alarm(Level.YELLOW)
    await f.first_step(session, alarm=alarm)
    rows = await delivered(session, alarm.alarm_id)
    l1s = next(r for r in rows if r.person_id == "l1" and r.channel == "sms")
    with pytest.raises(Forbidden, match="only they or the leader"):
        await acknowledge_notification(
            session,
            notification_id=l1s.notification_id,
            by="s1",
            via=AckVia.API,
            now=f.NOW,
            caller=caller("s1"),  # on duty too, at another center: not theirs
        )
    center = await session.get_one(DutyCenter, "street-lujiazui")
    center.leader_id = "l3"
    await session.flush()
    done = await acknowledge_notification(
        session,
        notification_id=l1s.notification_id,
        by="l3",
        via=AckVia.API,
        now=f.NOW,
        caller=caller("l3"),
    )
    assert (done.person_id, done.acknowledged_by) == ("l1", "l3")


async def test_acknowledging_an_unknown_notification_is_not_found(session: AsyncSession) -> None:
    with pytest.raises(NotFound):
        await acknowledge_notification(
            session, notification_id="nope", by="x", via=AckVia.API, now=f.NOW
        )


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("QS 1a2b3c4d", "1a2b3c4d"),
        ("签收1A2B3C4D", "1a2b3c4d"),
        ("ack: 1a2b", "1a2b"),
        ("qs", None),
    ],
)
def test_acknowledging_replies_are_understood(text: str, ref: str | None) -> None:
    reply = parse_ack_reply(text)
    assert reply is not None
    assert reply.alarm_ref == ref


@pytest.mark.parametrize("text", ["报到", "1", "QSX", "acknowledged", "QS 12", "hello"])
def test_other_replies_are_not_acknowledgements(text: str) -> None:
    assert parse_ack_reply(text) is None


async def test_an_sms_reply_acknowledges_the_alarm_it_names(session: AsyncSession) -> None:
    await f.add_roster(session)
    first = f.alarm(Level.RED, alarm_id="aaaa1111-0000-0000-0000-000000000000")
    second = f.alarm(Level.RED, alarm_id="bbbb2222-0000-0000-0000-000000000000")
    for alarm in (first, second):
        await f.first_step(session, alarm=alarm)
        await delivered(session, alarm.alarm_id)
    at = f.NOW + timedelta(minutes=1)
    bare = await acknowledge_by_reply(session, person_id="l1", alarm_ref=None, at=at)
    assert bare.acknowledged is None
    assert "aaaa1111" in bare.outcome
    assert "bbbb2222" in bare.outcome
    named = await acknowledge_by_reply(session, person_id="l1", alarm_ref="bbbb2222", at=at)
    assert named.outcome == "acknowledged"
    assert named.acknowledged is not None
    assert (named.acknowledged.alarm_id, named.acknowledged.channel) == (second.alarm_id, "sms")
    assert named.acknowledged.acknowledged_via == "sms"
    again = await acknowledge_by_reply(session, person_id="l1", alarm_ref="bbbb2222", at=at)
    assert again.outcome == "already acknowledged"
    assert (await session.get_one(Escalation, second.alarm_id)).status == "acknowledged"
    assert (await session.get_one(Escalation, first.alarm_id)).status == "active"
