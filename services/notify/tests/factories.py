"""Builders for notify tests: alarm snapshots and events, a small roster with edge cases."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.catalog import default_catalog
from riskwatch.common.events import EventPayload, Level, new_event
from riskwatch.common.events.alarms import (
    AlarmCleared,
    AlarmRaised,
    AlarmSnapshot,
    AlarmUpdated,
    ClearReason,
)
from riskwatch.common.events.base import DeviceRef
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.inbox import EventHandler
from riskwatch.notify.duty.domain import OnDutyPerson, ShiftSpan
from riskwatch.notify.duty.models import DutyCenter, DutyMember, Person, Roster, Shift
from riskwatch.notify.escalation.service import Plan, start_escalation
from riskwatch.notify.models import principals
from riskwatch.notify.notifications.models import Notification
from riskwatch.notify.notifications.storm_service import caps_from
from riskwatch.notify.settings import NotifySettings

NOW = datetime(2026, 11, 1, 19, 0, tzinfo=UTC)  # 03:00 in Shanghai: a gas leak at night
GRACE = timedelta(minutes=15)  # the check-in grace period
# The storm caps the settings give by default, days in the default catalog's zone.
CAPS = caps_from(NotifySettings(), default_catalog().district.zone)
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def device(
    device_id: str = "gas-001", *, town_id: str | None = "lujiazui", sector_id: str = "construction"
) -> DeviceRef:
    return DeviceRef(
        device_id=device_id,
        sector_id=sector_id,
        scenario_id="gas",
        town_id=town_id,
        name="Gas well 1",
    )


def alarm(
    level: Level = Level.YELLOW,
    *,
    alarm_id: str | None = None,
    dev: DeviceRef | None = None,
    value: float = 22.0,
) -> AlarmSnapshot:
    return AlarmSnapshot(
        alarm_id=alarm_id or str(uuid.uuid4()),
        rule_id="gas-lel",
        rule_version=1,
        device=dev or device(),
        metric="ch4_lel",
        level=level,
        status="active",
        value=value,
        threshold=20.0,
        observed_at=NOW - timedelta(seconds=5),
        received_at=NOW - timedelta(seconds=4),
        raised_at=NOW - timedelta(seconds=3),
    )


def offline(dev: DeviceRef | None = None, *, alarm_id: str | None = None) -> AlarmSnapshot:
    """The technical alarm alerting raises for a device gone offline at NOW (rule and metric
    "liveness", no reading: value and threshold 0)."""
    return AlarmSnapshot(
        alarm_id=alarm_id or str(uuid.uuid4()),
        rule_id="liveness",
        rule_version=0,
        device=dev or device(),
        metric="liveness",
        level=Level.BLUE,
        status="active",
        value=0.0,
        threshold=0.0,
        observed_at=NOW,
        received_at=NOW,
        raised_at=NOW,
        kind="technical",
    )


def cleared(
    snapshot: AlarmSnapshot, *, at: datetime, reason: ClearReason = "recovered"
) -> Envelope[EventPayload]:
    payload = AlarmCleared(
        alarm=snapshot.model_copy(update={"status": "cleared"}), cleared_at=at, reason=reason
    )
    return new_event(payload, source="/test", subject=snapshot.alarm_id)


async def add_account(
    session: AsyncSession,
    username: str,
    role: str,
    scope: str,
    *,
    disabled: bool = False,
    phone: str | None = None,
    locale: str | None = None,
) -> None:
    """An account as identity published it (notify's principal table), and with a phone its
    person record (how notify reaches it by SMS)."""
    await session.execute(
        insert(principals.table).values(
            username=username,
            roles=[role],
            scope=scope,
            disabled=disabled,
            session_epoch=1,
            changed_at=NOW,
        )
    )
    if phone is not None:
        person = Person(person_id=username, name=username, phone=phone, created_at=NOW)
        if locale is not None:
            person.locale = locale
        session.add(person)
    await session.flush()


def raised(snapshot: AlarmSnapshot) -> Envelope[EventPayload]:
    return new_event(
        AlarmRaised(alarm=snapshot),
        source="/test",
        subject=snapshot.alarm_id,
        traceparent=TRACEPARENT,
    )


def escalated(snapshot: AlarmSnapshot, to: Level) -> Envelope[EventPayload]:
    payload = AlarmUpdated(
        alarm=snapshot.model_copy(update={"level": to}),
        previous_level=snapshot.level,
        updated_at=NOW,
    )
    return new_event(payload, source="/test", subject=snapshot.alarm_id)


def span(
    person_id: str,
    start: datetime,
    end: datetime,
    *,
    center: str = "c",
    shift_id: str | None = None,
) -> ShiftSpan:
    return ShiftSpan(shift_id or f"{person_id}-{start:%H%M}", center, person_id, start, end)


def person_on_duty(person_id: str, center: str = "c") -> OnDutyPerson:
    return OnDutyPerson(
        person_id,
        f"Name of {person_id}",
        phone_of(person_id),
        span(person_id, NOW - timedelta(hours=1), NOW + timedelta(hours=1), center=center),
    )


# The roster of the integration tests, around NOW:
#   district            d1 on duty
#   sector-construction s1 on duty, s2 off (shift ended an hour ago)
#   street-lujiazui     l1 on duty, l2 whose shift ends exactly at NOW (off), l3 whose shift
#                       starts exactly at NOW (on)
#   street-gaoqiao      g1, only on duty tomorrow: nobody now
ROSTER_CENTERS = [
    ("district", "district", None, None),
    ("sector-construction", "sector", "construction", None),
    ("sector-emergency", "sector", "emergency", None),
    ("street-lujiazui", "street", None, "lujiazui"),
    ("street-gaoqiao", "street", None, "gaoqiao"),
]
ROSTER_SHIFTS = [
    ("d1", "district", -4, 8),
    ("s1", "sector-construction", -4, 8),
    ("s2", "sector-construction", -12, -1),
    ("e1", "sector-emergency", -4, 8),
    ("l1", "street-lujiazui", -4, 8),
    ("l2", "street-lujiazui", -12, 0),
    ("l3", "street-lujiazui", 0, 12),
    ("g1", "street-gaoqiao", 20, 32),
]
ON_DUTY = {"d1", "s1", "e1", "l1", "l3"}


def phone_of(person_id: str) -> str:
    return f"+8610000{sum(map(ord, person_id)):06d}"


async def add_roster(
    session: AsyncSession, *, now: datetime = NOW, checked_in: bool = True
) -> None:
    """The roster above, published; with `checked_in`, everyone checked in at their shift's
    start (so no center counts as missed)."""
    for center_id, kind, sector_id, town_id in ROSTER_CENTERS:
        session.add(
            DutyCenter(
                duty_center_id=center_id,
                name=center_id,
                kind=kind,
                sector_id=sector_id,
                town_id=town_id,
            )
        )
        session.add(
            Roster(
                roster_id=f"roster-{center_id}",
                duty_center_id=center_id,
                first_day=(now - timedelta(days=1)).date(),
                days=3,
                period_start=now - timedelta(hours=12),
                period_end=now + timedelta(hours=32),
                spec={"templates": [], "rotation": [], "overrides": []},
                status="published",
                version=1,
                allow_gaps=True,
                created_by="test",
                created_at=now,
                updated_at=now,
                published_at=now - timedelta(days=2),
                first_published_at=now - timedelta(days=2),
            )
        )
    await session.flush()
    for person_id, _, _, _ in ROSTER_SHIFTS:
        session.add(
            Person(person_id=person_id, name=f"Person {person_id}", phone=phone_of(person_id))
        )
    await session.flush()
    for person_id, center_id, start_h, end_h in ROSTER_SHIFTS:
        session.add(DutyMember(duty_center_id=center_id, person_id=person_id, added_at=now))
        starts_at = now + timedelta(hours=start_h)
        session.add(
            Shift(
                shift_id=f"shift-{person_id}",
                roster_id=f"roster-{center_id}",
                duty_center_id=center_id,
                person_id=person_id,
                template="t",
                starts_at=starts_at,
                ends_at=now + timedelta(hours=end_h),
                published=True,
                checked_in_at=starts_at if checked_in and starts_at <= now else None,
                checked_in_via="api" if checked_in and starts_at <= now else None,
                checked_in_late=False if checked_in and starts_at <= now else None,
            )
        )
    await session.flush()


async def first_step(
    session: AsyncSession,
    *,
    alarm: AlarmSnapshot,
    place: str | None = None,
    traceparent: str | None = None,
    now: datetime = NOW,
    grace: timedelta = GRACE,
) -> Plan:
    """Start the alarm's escalation: what its first step did (an empty plan when the
    escalation was there already)."""
    plans = await start_escalation(
        session,
        alarm=alarm,
        place=place,
        traceparent=traceparent,
        now=now,
        grace=grace,
        caps=CAPS,
    )
    return plans[0] if plans else Plan([], {}, [], [])


async def handled_three_times(
    session: AsyncSession,
    handle: EventHandler,
    envelope: Envelope[EventPayload],
    *,
    read: Callable[[AsyncSession], Awaitable[list[Notification]]],
) -> list[Notification]:
    """Handle the event, again (a redelivery), and once more under a new event id (published
    again): one set of notices, as `read` finds them."""
    await handle(session, envelope)
    first = await read(session)
    await handle(session, envelope)
    await handle(session, new_event(envelope.data, source="/test", subject=envelope.subject))
    again = await read(session)
    assert [r.notification_id for r in again] == [r.notification_id for r in first]
    return first
