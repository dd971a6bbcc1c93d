"""Take sector systems' events in the caller's transaction: claim them in the inbox (an event
taken before, redelivered or sent again, is skipped whole), hand their readings to the
readings path's `accept_batch` (validation, quality flags, budgets, storage, publication), and
stage on the outbox one `ReadingRejected` per reading it refused, keyed by the event's source.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.events.base import EventPayload
from riskwatch.common.events.envelope import Envelope, new_event
from riskwatch.common.events.inbound import ReadingRejected
from riskwatch.ingest.inbound.domain import (
    InboundChannel,
    event_key,
    gather,
    rejections_of,
)
from riskwatch.ingest.models import inbox, outbox
from riskwatch.ingest.readings.service import ReadingsPath

SOURCE = "/riskwatch/ingest"


@dataclass(slots=True)
class Taken:
    """What became of a run of events (for metrics, logs and tests)."""

    events: int = 0  # taken now
    repeated: int = 0  # taken before: skipped
    accepted: int = 0  # readings that passed (new ones and duplicates)
    duplicates: int = 0  # readings stored before
    rejected: list[tuple[Envelope[EventPayload], ReadingRejected]] = field(default_factory=list)


async def take_events(
    session: AsyncSession,
    *,
    channel: InboundChannel,
    events: Sequence[Envelope[EventPayload]],
    path: ReadingsPath,
    now: datetime,
) -> Taken:
    keys = [event_key(e) for e in events]
    claimed = await inbox.claim(session, group=channel.group, event_ids=keys)
    fresh: list[Envelope[EventPayload]] = []
    for event, key in zip(events, keys, strict=True):
        if key in claimed:
            claimed.discard(key)  # the same event twice in a run: once
            fresh.append(event)
    taken = Taken(events=len(fresh), repeated=len(events) - len(fresh))
    gathered = gather(fresh)
    if not gathered.items:
        return taken
    # A sector's topic carries that sector's devices only; who may write to it is Kafka's ACLs'.
    result = await path.accept(
        session, gathered.items, now=now, serves=lambda sector: sector == channel.sector
    )
    taken.accepted = result.accepted
    taken.duplicates = result.duplicates
    taken.rejected = rejections_of(fresh, gathered, result.rejected, sector=channel.sector)
    await outbox.add_many(
        session,
        [
            (
                channel.rejections,
                new_event(
                    rejected, source=SOURCE, subject=rejected.source, traceparent=event.traceparent
                ),
                rejected.source,
            )
            for event, rejected in taken.rejected
        ],
    )
    return taken
