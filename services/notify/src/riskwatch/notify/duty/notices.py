"""Duty notices: a published roster tells each person their shifts; a missed check-in tells the
center's leader. Both go out as notifications (in the app and by SMS), written from the message
templates in the person's locale, through the same dispatcher as alarms, recorded and visible in
the person's list."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.notify.duty.domain import ShiftSpan
from riskwatch.notify.duty.models import DutyCenter
from riskwatch.notify.duty.service import Missed, Publication
from riskwatch.notify.notifications.domain import CHANNELS, ChannelKind, Status, Topic
from riskwatch.notify.notifications.service import insert_notifications
from riskwatch.notify.templates.domain import (
    SMS_MAX_SEGMENTS,
    Rendered,
    TemplateKey,
    Templates,
    check_in_variables,
    locale_of,
    roster_variables,
    sms_segments,
)
from riskwatch.notify.templates.service import load_templates

# How many shifts a roster notice lists before it says "and N more" (an SMS lists fewer when
# that keeps it within two segments).
LISTED_SHIFTS = 14


class Recipient(Protocol):
    """Someone a notice goes to: a member (Person) or someone on duty (OnDutyPerson)."""

    @property
    def person_id(self) -> str: ...
    @property
    def phone(self) -> str: ...
    @property
    def locale(self) -> str | None: ...


def roster_notice(
    templates: Templates,
    channel: ChannelKind,
    *,
    locale: str,
    center_name: str,
    version: int,
    shifts: Sequence[ShiftSpan],
    tz: ZoneInfo,
) -> Rendered:
    """A person's shifts (local times). An SMS lists as many as keep it within two segments,
    at least one."""

    def with_listed(listed: int) -> Rendered:
        variables = roster_variables(
            center=center_name, version=version, shifts=shifts, tz=tz, locale=locale, listed=listed
        )
        return templates.render(TemplateKey.ROSTER, channel, locale, variables)

    rendered = with_listed(LISTED_SHIFTS)
    if channel is ChannelKind.SMS:
        listed = min(LISTED_SHIFTS, len(shifts))
        while listed > 1 and sms_segments(rendered.text) > SMS_MAX_SEGMENTS:
            listed -= 1
            rendered = with_listed(listed)
    return rendered


def missed_notice(
    templates: Templates,
    channel: ChannelKind,
    *,
    locale: str,
    center_name: str,
    shift: ShiftSpan,
    grace: timedelta,
    tz: ZoneInfo,
) -> Rendered:
    variables = check_in_variables(
        center=center_name, start=shift.starts_at, grace=grace, on_duty=shift.person_id, tz=tz
    )
    return templates.render(TemplateKey.CHECK_IN, channel, locale, variables)


def _rows(
    *,
    topic: Topic,
    key: str,
    center: DutyCenter,
    person: Recipient,
    render: Callable[[ChannelKind, str], Rendered],
    now: datetime,
) -> list[dict[str, object]]:
    locale = locale_of(person.locale).value
    rows: list[dict[str, object]] = []
    for channel in CHANNELS:
        rendered = render(channel, locale)
        rows.append(
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
                "message": rendered.text,
                "subject": rendered.subject,
                "template_id": rendered.provider_template_id,
                "params": _params(rendered.params),
                "locale": locale,
                "step": 0,
                "round": 0,
                "status": Status.PENDING.value,
                "idempotency_key": f"{key}:{person.person_id}:{channel.value}",
                "attempts": 0,
                "next_attempt_at": now,
                "alarm_received_at": None,
                "traceparent": None,
                "created_at": now,
            }
        )
    return rows


def _params(params: Mapping[str, str]) -> dict[str, str] | None:
    return dict(params) or None


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
    templates = await load_templates(session)
    rows: list[dict[str, object]] = []
    for person in publication.people:
        shifts = by_person[person.person_id]

        def render(
            channel: ChannelKind, locale: str, shifts: Sequence[ShiftSpan] = shifts
        ) -> Rendered:
            return roster_notice(
                templates,
                channel,
                locale=locale,
                center_name=center.name,
                version=roster.version,
                shifts=shifts,
                tz=tz,
            )

        rows += _rows(
            topic=Topic.ROSTER,
            key=f"roster:{roster.roster_id}:v{roster.version}",
            center=center,
            person=person,
            render=render,
            now=now,
        )
    return await insert_notifications(session, rows, now=now)


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
    templates = await load_templates(session)

    def render(channel: ChannelKind, locale: str) -> Rendered:
        return missed_notice(
            templates,
            channel,
            locale=locale,
            center_name=missed.center.name,
            shift=missed.shift,
            grace=grace,
            tz=tz,
        )

    rows: list[dict[str, object]] = []
    for person in told:
        rows += _rows(
            topic=Topic.CHECK_IN,
            key=f"missed:{missed.shift.shift_id}",
            center=missed.center,
            person=person,
            render=render,
            now=now,
        )
    return await insert_notifications(session, rows, now=now)
