"""Duty notices: a published roster tells each person their shifts; a missed check-in tells the
center's leader. Both go out as notifications (in the app and by SMS), through the same
dispatcher as alarms, recorded and visible in the person's list."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.notify.duty.domain import ShiftSpan
from riskwatch.notify.duty.models import DutyCenter
from riskwatch.notify.duty.service import Missed, Publication
from riskwatch.notify.notifications.domain import CHANNELS, ChannelKind, Status, Topic
from riskwatch.notify.notifications.service import insert_notifications

# How many shifts a roster notice lists before it says "and N more".
LISTED_SHIFTS = 14


def roster_text(center_name: str, version: int, shifts: Sequence[ShiftSpan], tz: ZoneInfo) -> str:
    """ "[RiskWatch] Roster of Lujiazui duty center published: your shifts 12-01 08:30-17:30,
    12-03 17:30-08:30. Reply 报到 (BD) at the start of each shift." Local times."""
    ordered = sorted(shifts, key=lambda s: s.starts_at)
    listed = [
        f"{s.starts_at.astimezone(tz):%m-%d %H:%M}-{s.ends_at.astimezone(tz):%H:%M}"
        for s in ordered[:LISTED_SHIFTS]
    ]
    more = len(ordered) - len(listed)
    again = " again" if version > 1 else ""
    return (
        f"[RiskWatch] Roster of {center_name} published{again}: your shifts "
        + ", ".join(listed)
        + (f" and {more} more" if more > 0 else "")
        + ". Reply 报到 (BD) at the start of each shift to check in."
    )


def missed_text(center_name: str, shift: ShiftSpan, grace: timedelta, tz: ZoneInfo) -> str:
    minutes = int(grace.total_seconds() // 60)
    return (
        f"[RiskWatch] Nobody at {center_name} has checked in {minutes} min after the "
        f"{shift.starts_at.astimezone(tz):%H:%M} shift start ({shift.person_id} is on duty). "
        "Its alarms now also go to the next level up."
    )


class Recipient(Protocol):
    """Someone a notice goes to: a member (Person) or someone on duty (OnDutyPerson)."""

    @property
    def person_id(self) -> str: ...
    @property
    def phone(self) -> str: ...


def _rows(
    *,
    topic: Topic,
    key: str,
    center: DutyCenter,
    person: Recipient,
    message: str,
    now: datetime,
) -> list[dict[str, object]]:
    return [
        {
            "notification_id": str(uuid.uuid4()),
            "topic": topic.value,
            "alarm_id": None,
            "sector_id": center.sector_id,
            "town_id": center.town_id,
            "village_id": None,
            "level": None,
            "duty_center_id": center.duty_center_id,
            "person_id": person.person_id,
            "channel": channel.value,
            "recipient": person.phone if channel is ChannelKind.SMS else person.person_id,
            "message": message,
            "status": Status.PENDING.value,
            "idempotency_key": f"{key}:{person.person_id}:{channel.value}",
            "attempts": 0,
            "next_attempt_at": now,
            "alarm_received_at": None,
            "traceparent": None,
            "created_at": now,
        }
        for channel in CHANNELS
    ]


async def notify_publication(
    session: AsyncSession,
    *,
    publication: Publication,
    center: DutyCenter,
    tz: ZoneInfo,
    now: datetime,
) -> list[str]:
    """Each person on the roster gets their shifts (once per publication version)."""
    by_person: dict[str, list[ShiftSpan]] = defaultdict(list)
    for shift in publication.shifts:
        by_person[shift.person_id].append(shift.span())
    roster = publication.roster
    rows: list[dict[str, object]] = []
    for person in publication.people:
        text = roster_text(center.name, roster.version, by_person[person.person_id], tz)
        rows += _rows(
            topic=Topic.ROSTER,
            key=f"roster:{roster.roster_id}:v{roster.version}",
            center=center,
            person=person,
            message=text,
            now=now,
        )
    return await insert_notifications(session, rows)


async def notify_missed(
    session: AsyncSession,
    *,
    missed: Missed,
    fallback_people: Sequence[Recipient],
    grace: timedelta,
    tz: ZoneInfo,
    now: datetime,
) -> list[str]:
    """The leader hears that nobody checked in; a center without a leader has the people on
    duty at its fallback told instead."""
    told: list[Recipient] = [missed.leader] if missed.leader is not None else [*fallback_people]
    text = missed_text(missed.center.name, missed.shift, grace, tz)
    rows: list[dict[str, object]] = []
    for person in told:
        rows += _rows(
            topic=Topic.CHECK_IN,
            key=f"missed:{missed.shift.shift_id}",
            center=missed.center,
            person=person,
            message=text,
            now=now,
        )
    return await insert_notifications(session, rows)
