"""Notices that are no alarm's escalation step (work orders, the bulletin, devices offline): the
people they reach, by username, with how to reach them, and the row of one planned notice.
Callers own the transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.notify.duty.models import Person
from riskwatch.notify.notifications.domain import (
    Addressee,
    Planned,
    Recipient,
    Status,
    Topic,
)
from riskwatch.notify.templates.domain import Rendered, locale_of


async def people_named(
    session: AsyncSession, wanted: Sequence[tuple[str, str]], audience: str
) -> list[Addressee]:
    """Accounts by username, each for a center: (center id, username). Reached by phone when
    they have a person record in notify, in the app in any case."""
    known = {
        p.person_id: p
        for p in await session.scalars(
            select(Person).where(Person.person_id.in_({person for _, person in wanted}))
        )
    }
    out: list[Addressee] = []
    for center_id, person_id in wanted:
        p = known.get(person_id)
        recipient = (
            Recipient(center_id, person_id, p.phone, p.email, p.locale)
            if p is not None
            else Recipient(center_id, person_id)
        )
        out.append(Addressee(audience, recipient))
    return out


def notice_row(
    p: Planned,
    *,
    topic: Topic,
    topic_fields: dict[str, object],
    text: Rendered,
    traceparent: str | None,
    now: datetime,
) -> dict[str, object]:
    """The notification row of one planned notice, due now. `topic_fields`: its alarm_id,
    sector_id, town_id, level (and village_id when it has one)."""
    recipient = p.addressee.recipient
    return {
        "notification_id": str(uuid.uuid4()),
        "topic": topic.value,
        "village_id": None,
        **topic_fields,
        "duty_center_id": recipient.duty_center_id,
        "person_id": recipient.person_id,
        "channel": p.channel.value,
        "recipient": p.address,
        "message": text.text,
        "subject": text.subject,
        "template_id": text.provider_template_id,
        "params": dict(text.params) or None,
        "locale": locale_of(recipient.locale).value,
        "step": 0,
        "round": 0,
        "status": Status.PENDING.value,
        "idempotency_key": p.idempotency_key,
        "attempts": 0,
        "next_attempt_at": now,
        "alarm_received_at": None,
        "traceparent": traceparent,
        "created_at": now,
    }
