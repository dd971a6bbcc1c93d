"""Idempotent consumers: each event id is processed at most once per consumer group.

The processed-event row is inserted in the same transaction as the handler's effects, so a
redelivery after a crash or rebalance finds it and does nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    Column,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    delete,
    func,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common.bus.base import Handler, Message
from riskwatch.common.db import UTCDateTime
from riskwatch.common.events.base import EventPayload
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.periodic import Periodic

# Longer than Kafka's default retention (7 days): an event can only come again while it exists.
DEFAULT_KEEP = timedelta(days=8)

EventHandler = Callable[[AsyncSession, Envelope[EventPayload]], Awaitable[None]]


class Inbox:
    def __init__(self, metadata: MetaData) -> None:
        self.table = Table(
            "processed_event",
            metadata,
            Column("consumer_group", String(255), nullable=False),
            Column("event_id", String(64), nullable=False),
            Column("processed_at", UTCDateTime(), nullable=False, server_default=func.now()),
            PrimaryKeyConstraint("consumer_group", "event_id"),
            Index("ix_processed_event_processed_at", "processed_at"),  # for pruning
        )

    async def claim(self, session: AsyncSession, *, group: str, event_id: str) -> bool:
        """True the first time `group` sees `event_id`; False on every redelivery."""
        result = await session.execute(
            insert(self.table)
            .values(consumer_group=group, event_id=event_id)
            .on_conflict_do_nothing()
            .returning(self.table.c.event_id)
        )
        return result.first() is not None

    async def prune(self, session: AsyncSession, *, older_than: timedelta) -> int:
        """Forget processed ids older than any redelivery can be (Kafka keeps 7 days)."""
        result = await session.execute(
            delete(self.table).where(self.table.c.processed_at < datetime.now(UTC) - older_than)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    def pruner(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        name: str,
        keep: timedelta = DEFAULT_KEEP,
        interval_s: float = 3600.0,
    ) -> Periodic:
        """A component that prunes this inbox every `interval_s`."""

        async def prune() -> None:
            async with sessions() as session, session.begin():
                await self.prune(session, older_than=keep)

        return Periodic(name, prune, interval_s=interval_s, run_at_start=True)

    def handler(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        group: str,
        handle: EventHandler,
        after_commit: Callable[[], None] | None = None,
    ) -> Handler:
        """Wrap `handle` in one transaction per event with a once-per-group guard."""

        async def run(envelope: Envelope[EventPayload], message: Message) -> None:
            async with sessions() as session, session.begin():
                if not await self.claim(session, group=group, event_id=envelope.id):
                    return
                await handle(session, envelope)
            if after_commit is not None:
                after_commit()

        return run
