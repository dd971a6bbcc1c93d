"""Acknowledging a notification: once, idempotently, and only what has reached someone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.errors import InvalidState, NotFound
from riskwatch.common.events import Level, decode
from riskwatch.common.events.notifications import NotificationAcknowledged
from riskwatch.notify.models import outbox
from riskwatch.notify.notifications.models import Notification
from riskwatch.notify.notifications.service import acknowledge_notification, plan_notifications

from .. import factories as f


async def outbox_events(session: AsyncSession) -> list[object]:
    rows = (await session.execute(select(outbox.table).order_by(outbox.table.c.id))).all()
    return [decode([(k, v.encode()) for k, v in r.headers.items()], r.value).data for r in rows]


async def test_acknowledging_twice_answers_the_same_and_emits_once(session: AsyncSession) -> None:
    await f.add_roster(session)
    alarm = f.alarm(Level.YELLOW)
    plan = await plan_notifications(
        session, alarm=alarm, place=None, traceparent=None, now=f.NOW, grace=f.GRACE
    )
    row = await session.get_one(Notification, plan.created[0])
    with pytest.raises(InvalidState):  # still pending: it has reached nobody yet
        await acknowledge_notification(
            session, notification_id=row.notification_id, by="duty-officer", now=f.NOW
        )
    row.status = "delivered"
    await session.flush()
    first = await acknowledge_notification(
        session, notification_id=row.notification_id, by="duty-officer", now=f.NOW
    )
    assert (first.status, first.acknowledged_by, first.acknowledged_at) == (
        "acknowledged",
        "duty-officer",
        f.NOW,
    )
    later = f.NOW + timedelta(minutes=5)
    second = await acknowledge_notification(
        session, notification_id=row.notification_id, by="someone-else", now=later
    )
    assert (second.acknowledged_by, second.acknowledged_at) == ("duty-officer", f.NOW)
    events = [e for e in await outbox_events(session) if isinstance(e, NotificationAcknowledged)]
    assert len(events) == 1
    assert events[0].notification.notification_id == row.notification_id
    assert events[0].notification.alarm_id == alarm.alarm_id
    assert events[0].acknowledged_by == "duty-officer"


async def test_acknowledging_an_unknown_notification_is_not_found(session: AsyncSession) -> None:
    with pytest.raises(NotFound):
        await acknowledge_notification(session, notification_id="nope", by="x", now=f.NOW)
