"""Storm control against real PostgreSQL: 200 alarms to one person arrive as 10 SMS, the rest
held back (suppressed) and counted in one digest sent when the window ends; a red alarm's first
notice goes out beyond the cap; each window has its own digest; concurrent planners never
overshoot a cap together."""

# ruff: noqa: RUF001  (the expected Chinese texts use full-width punctuation)

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common.catalog import default_catalog
from riskwatch.common.events import Level
from riskwatch.common.events.alarms import AlarmSnapshot
from riskwatch.notify.notifications.domain import ChannelKind, Status, Topic
from riskwatch.notify.notifications.models import Notification
from riskwatch.notify.notifications.service import insert_notifications
from riskwatch.notify.notifications.storm import Cap, digest_key, window_of
from riskwatch.notify.notifications.storm_service import admit, caps_from
from riskwatch.notify.settings import NotifySettings

from .. import factories as f

NOW = f.NOW  # 03:00 in Shanghai: the window 03:00-03:10
CAPS = caps_from(NotifySettings(), default_catalog().district.zone)
WINDOW_END = NOW + timedelta(minutes=10)


def alarm_rows(
    alarm: AlarmSnapshot,
    *,
    phone: str,
    person_id: str = "p1",
    now: datetime = NOW,
    step: int = 0,
    round_: int = 0,
    channels: tuple[ChannelKind, ...] = (ChannelKind.IN_APP, ChannelKind.SMS),
) -> list[dict[str, object]]:
    """Rows as an escalation step writes them."""
    return [
        {
            "notification_id": str(uuid.uuid4()),
            "topic": Topic.ALARM.value,
            "alarm_id": alarm.alarm_id,
            "sector_id": alarm.device.sector_id,
            "town_id": alarm.device.town_id,
            "village_id": None,
            "level": alarm.level.value,
            "duty_center_id": "street-lujiazui",
            "person_id": person_id,
            "channel": channel.value,
            "recipient": person_id if channel is ChannelKind.IN_APP else phone,
            "message": f"alarm {alarm.alarm_id}",
            "subject": None,
            "template_id": None,
            "params": None,
            "locale": "zh-CN",
            "step": step,
            "round": round_,
            "status": Status.PENDING.value,
            "idempotency_key": f"{alarm.alarm_id}:{alarm.level.value}:{round_}.{step}:"
            f"{person_id}:{channel.value}",
            "attempts": 0,
            "next_attempt_at": now,
            "alarm_received_at": alarm.received_at,
            "traceparent": None,
            "created_at": now,
        }
        for channel in channels
    ]


def a_phone() -> str:
    return f"+86139{uuid.uuid4().int % 10**8:08d}"


async def sent_to(session: AsyncSession, recipient: str) -> list[Notification]:
    return list(
        await session.scalars(
            select(Notification)
            .where(Notification.recipient == recipient)
            .order_by(Notification.created_at, Notification.seq)
        )
    )


def digests(rows: list[Notification]) -> list[Notification]:
    return [r for r in rows if r.topic == Topic.DIGEST.value]


async def test_200_alarms_to_one_person_arrive_as_10_sms_and_one_digest(
    session: AsyncSession,
) -> None:
    """Through the real first escalation step: everyone on duty gets each alarm in the app; by
    SMS, 10 each and a digest of the other 190."""
    await f.add_roster(session)
    alarms = [f.alarm(Level.YELLOW) for _ in range(200)]
    for i, alarm in enumerate(alarms):
        await f.first_step(session, alarm=alarm, place="陆家嘴街道", now=NOW + timedelta(seconds=i))
    phone = f.phone_of("l1")
    rows = await sent_to(session, phone)
    alarm_sms = [r for r in rows if r.topic == Topic.ALARM.value]
    assert Counter(r.status for r in alarm_sms) == {"pending": 10, "suppressed": 190}
    # The first ten went out, in order; the rest were held back.
    assert [r.alarm_id for r in alarm_sms if r.status == "pending"] == [
        a.alarm_id for a in alarms[:10]
    ]
    (digest,) = digests(rows)
    assert (digest.channel, digest.person_id, digest.status) == ("sms", "l1", "pending")
    assert digest.next_attempt_at == WINDOW_END  # sent when the window ends
    assert digest.idempotency_key == digest_key(phone, ChannelKind.SMS, NOW)
    assert {r.digest_id for r in alarm_sms if r.status == "suppressed"} == {digest.notification_id}
    refs = "、".join(a.alarm_id[:8] for a in alarms[10:13])
    assert digest.message == (
        f"【RiskWatch】03:00-03:10另有190条通知因发送上限未逐条发送（黄色190），如告警{refs}，"
        "请在值班应用中查看。"
    )
    assert digest.params is not None
    assert digest.params["count"] == "190"
    # In the app nothing is capped: all 200 there.
    in_app = await session.scalar(
        select(func.count()).where(
            Notification.person_id == "l1",
            Notification.channel == "in_app",
            Notification.topic == Topic.ALARM.value,
        )
    )
    assert in_app == 200
    # Everyone else on duty got the same treatment, each with their own digest.
    for person in ("l3", "s1"):
        theirs = await sent_to(session, f.phone_of(person))
        assert Counter(r.status for r in theirs if r.topic == "alarm")["pending"] == 10
        assert len(digests(theirs)) == 1


async def test_a_red_first_notice_beyond_the_cap_goes_out_and_later_steps_do_not(
    session: AsyncSession,
) -> None:
    phone = a_phone()
    for _ in range(10):
        await insert_notifications(
            session, alarm_rows(f.alarm(Level.YELLOW), phone=phone), now=NOW, caps=CAPS
        )
    red = f.alarm(Level.RED, alarm_id="feedbeef-0000")
    await insert_notifications(session, alarm_rows(red, phone=phone), now=NOW, caps=CAPS)
    # Its next step (say the voice reminder's round, by SMS here) is no first notice.
    later = alarm_rows(red, phone=phone, step=2, channels=(ChannelKind.SMS,))
    await insert_notifications(session, later, now=NOW + timedelta(minutes=1), caps=CAPS)
    rows = await sent_to(session, phone)
    first = next(r for r in rows if r.alarm_id == red.alarm_id and r.step == 0)
    assert first.status == Status.PENDING.value  # the 11th SMS of the window, and it goes
    second = next(r for r in rows if r.alarm_id == red.alarm_id and r.step == 2)
    assert second.status == Status.SUPPRESSED.value
    (digest,) = digests(rows)
    assert "1条" in digest.message
    assert "红色1" in digest.message
    assert "feedbeef" in digest.message


async def test_each_window_has_its_own_digest_and_a_redelivery_changes_nothing(
    session: AsyncSession,
) -> None:
    phone = a_phone()
    first_window = [f.alarm(Level.ORANGE) for _ in range(15)]
    for i, alarm in enumerate(first_window):
        now = NOW + timedelta(seconds=30 * i)
        await insert_notifications(
            session, alarm_rows(alarm, phone=phone, now=now), now=now, caps=CAPS
        )
    # The same alarms again (a redelivered event): idempotency keys exist, nothing counted.
    for alarm in first_window:
        await insert_notifications(session, alarm_rows(alarm, phone=phone), now=NOW, caps=CAPS)
    later = NOW + timedelta(minutes=12)  # the window 03:10-03:20
    for alarm in [f.alarm(Level.BLUE) for _ in range(12)]:
        await insert_notifications(
            session, alarm_rows(alarm, phone=phone, now=later), now=later, caps=CAPS
        )
    rows = await sent_to(session, phone)
    alarm_sms = [r for r in rows if r.topic == Topic.ALARM.value]
    assert len(alarm_sms) == 27
    # The digests sent in the first window do not take room in the second.
    assert Counter(r.status for r in alarm_sms) == {"pending": 20, "suppressed": 7}
    one, two = digests(rows)
    assert one.idempotency_key == digest_key(phone, ChannelKind.SMS, NOW)
    assert "另有5条通知" in one.message
    assert "橙色5" in one.message
    start, end = window_of(later, CAPS)
    assert two.idempotency_key == digest_key(phone, ChannelKind.SMS, start)
    assert two.next_attempt_at == end
    assert "另有2条通知" in two.message
    assert "蓝色2" in two.message
    assert {r.digest_id for r in alarm_sms if r.status == "suppressed"} == {
        one.notification_id,
        two.notification_id,
    }


async def test_voice_has_its_own_caps_and_digest_in_the_persons_locale(
    session: AsyncSession,
) -> None:
    phone = a_phone()
    caps = replace(CAPS, voice=Cap(per_window=3, per_day=20))
    for _ in range(5):
        planned = alarm_rows(
            f.alarm(Level.ORANGE), phone=phone, step=1, channels=(ChannelKind.VOICE,)
        )
        for row in planned:
            row["locale"] = "en"
        await insert_notifications(session, planned, now=NOW, caps=caps)
    rows = await sent_to(session, phone)
    calls = [r for r in rows if r.topic == Topic.ALARM.value]
    assert Counter(r.status for r in calls) == {"pending": 3, "suppressed": 2}
    (digest,) = digests(rows)
    assert (digest.channel, digest.locale) == ("voice", "en")
    assert digest.message.startswith("RiskWatch reminder. 2 more notices from 03:00 to 03:10")
    assert digest.message.endswith("press 1 to acknowledge")


async def test_the_day_cap_holds_across_windows(session: AsyncSession) -> None:
    phone = a_phone()
    caps = replace(CAPS, sms=Cap(per_window=10, per_day=12))
    for minutes in (0, 10):  # two windows of 10 alarms each
        now = NOW + timedelta(minutes=minutes)
        for _ in range(10):
            planned = alarm_rows(f.alarm(Level.YELLOW), phone=phone, now=now)
            await insert_notifications(session, planned, now=now, caps=caps)
    rows = await sent_to(session, phone)
    statuses = Counter(r.status for r in rows if r.topic == Topic.ALARM.value)
    assert statuses == {"pending": 12, "suppressed": 8}
    assert len(digests(rows)) == 1  # the first window held nothing back


async def test_admit_returns_every_row_with_the_new_digest(session: AsyncSession) -> None:
    """What the planner inserts: the suppressed rows too, so the record is complete, and the
    one digest; in-app rows untouched."""
    phone = a_phone()
    caps = replace(CAPS, sms=Cap(per_window=1, per_day=50))
    rows = [row for _ in range(3) for row in alarm_rows(f.alarm(Level.YELLOW), phone=phone)]
    admitted = await admit(session, rows, now=NOW, caps=caps)
    assert len(admitted) == 7  # 3 in-app, 3 SMS, 1 digest
    assert len({frozenset(r) for r in admitted}) == 1  # one INSERT: the same columns each
    sms = [r for r in admitted if r["channel"] == "sms" and r["topic"] == "alarm"]
    assert [r["status"] for r in sms] == ["pending", "suppressed", "suppressed"]
    (digest,) = [r for r in admitted if r["topic"] == "digest"]
    assert sms[1]["digest_id"] == sms[2]["digest_id"] == digest["notification_id"]
    assert all(r["status"] == "pending" for r in admitted if r["channel"] == "in_app")
    # Nothing written yet: the caller inserts.
    assert await sent_to(session, phone) == []


async def test_concurrent_planners_never_overshoot_a_cap_together(
    committing_sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Two transactions plan 10 alarms each for one person at once: the advisory lock makes
    the second count what the first sent, so 10 SMS go, 10 are held back in one digest."""
    phone = a_phone()
    started = asyncio.Event()

    async def plan(n: int) -> None:
        async with committing_sessions() as session, session.begin():
            for i in range(n):
                rows = alarm_rows(f.alarm(Level.YELLOW), phone=phone)
                await insert_notifications(session, rows, now=NOW, caps=CAPS)
                if i == 0:
                    started.set()
                await asyncio.sleep(0)  # let the other planner in between inserts

    async def second() -> None:
        await started.wait()
        await plan(10)

    await asyncio.gather(plan(10), second())
    async with committing_sessions() as session:
        rows = await sent_to(session, phone)
    statuses = Counter(r.status for r in rows if r.topic == Topic.ALARM.value)
    assert statuses == {"pending": 10, "suppressed": 10}
    (digest,) = digests(rows)
    assert "另有10条通知" in digest.message
