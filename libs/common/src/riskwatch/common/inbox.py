"""Idempotent consumers: each event id is processed at most once per consumer group.

A batch's event ids are claimed with one multi-row insert in the same transaction as the
handler's effects (ADR 0007), so a redelivery after a crash or rebalance finds them and skips
them, and idempotence costs one round trip per batch, not per event.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import (
    Column,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    delete,
    func,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common.bus.base import BatchHandler, Delivery
from riskwatch.common.db import UTCDateTime
from riskwatch.common.events.base import EventPayload
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.periodic import Periodic
from riskwatch.common.tracing import trace_id_of

# Longer than Kafka's default retention (7 days): an event can only come again while it exists.
DEFAULT_KEEP = timedelta(days=8)

EventHandler = Callable[[AsyncSession, Envelope[EventPayload]], Awaitable[None]]
# Gets the batch's new events (redeliveries already removed), in offset order.
EventsHandler = Callable[[AsyncSession, Sequence[Envelope[EventPayload]]], Awaitable[None]]


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
        self._claim = text(
            f"INSERT INTO {self.table.fullname} (consumer_group, event_id) "
            "SELECT :group, unnest(CAST(:ids AS varchar[])) "
            "ON CONFLICT DO NOTHING RETURNING event_id"
        )

    async def claim(
        self, session: AsyncSession, *, group: str, event_ids: Sequence[str]
    ) -> set[str]:
        """The ids of `event_ids` that `group` sees for the first time (one statement)."""
        if not event_ids:
            return set()
        result = await session.execute(
            self._claim,
            {"group": group, "ids": list(event_ids)},
        )
        return {row[0] for row in result}

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

    def batch_handler(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        group: str,
        handle: EventsHandler,
        after_commit: Callable[[], None] | None = None,
    ) -> BatchHandler:
        """Wrap `handle` in one transaction per batch that first claims the batch's event ids;
        `handle` gets only the events this group has not processed yet."""

        async def run(batch: Sequence[Delivery]) -> None:
            async with sessions() as session, session.begin():
                fresh = await self.claim(
                    session, group=group, event_ids=[d.envelope.id for d in batch]
                )
                new: list[Envelope[EventPayload]] = []
                for delivery in batch:
                    if delivery.envelope.id in fresh:
                        fresh.discard(delivery.envelope.id)  # an id twice in a batch: once
                        new.append(delivery.envelope)
                if new:
                    await handle(session, new)
            if after_commit is not None and new:
                after_commit()

        return run

    def handler(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        group: str,
        handle: EventHandler,
        after_commit: Callable[[], None] | None = None,
    ) -> BatchHandler:
        """A batch handler that applies each new event with `handle`, in order, all in one
        transaction; each event's log lines carry its ids."""

        async def each(session: AsyncSession, events: Sequence[Envelope[EventPayload]]) -> None:
            for envelope in events:
                with structlog.contextvars.bound_contextvars(
                    event_id=envelope.id,
                    event_type=envelope.type,
                    trace_id=trace_id_of(envelope.traceparent),
                    consumer_group=group,
                ):
                    await handle(session, envelope)

        return self.batch_handler(sessions, group=group, handle=each, after_commit=after_commit)
