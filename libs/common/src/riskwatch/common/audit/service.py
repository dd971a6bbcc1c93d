"""Use cases of the audit trail's owner: chain what producers sent, and read the trail (each
read is itself chained, in the same transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.audit import store
from riskwatch.common.audit.models import SCHEMA, AuditRecord
from riskwatch.common.events.audit import AuditRecorded
from riskwatch.common.events.base import EventPayload
from riskwatch.common.events.envelope import Envelope, new_event

SOURCE = f"/riskwatch/{SCHEMA}"


class NotAnAuditRecord(ValueError):
    """An event of another type on the audit topic: a producer's bug, dead-lettered."""


async def store_events(
    session: AsyncSession, events: Sequence[Envelope[EventPayload]], *, now: datetime
) -> None:
    """Chain a consumed batch (the inbox removed redeliveries), in offset order."""
    records: list[Envelope[AuditRecorded]] = []
    for envelope in events:
        if not isinstance(envelope.data, AuditRecorded):
            raise NotAnAuditRecord(f"{envelope.type} {envelope.id} on the audit topic")
        records.append(cast("Envelope[AuditRecorded]", envelope))
    await store.append(session, records, now=now)


async def read_trail(
    session: AsyncSession,
    *,
    filters: store.Filters,
    cursor: str | None,
    limit: int,
    read: AuditRecorded,
    now: datetime,
) -> tuple[list[AuditRecord], str | None]:
    """A page of the trail, newest first; `read` (the reader's record) is chained with it."""
    page = await store.list_records(session, filters=filters, cursor=cursor, limit=limit)
    await store.append(session, [new_event(read, source=SOURCE, subject=read.actor)], now=now)
    return page
