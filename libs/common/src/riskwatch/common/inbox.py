"""Idempotent consumers: each event id is processed at most once per consumer group.

The processed-event row is inserted in the same transaction as the handler's effects, so a
redelivery after a crash or rebalance finds it and does nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, String, Table, func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common.bus.base import Handler, Message
from riskwatch.common.db import UTCDateTime
from riskwatch.common.events.base import EventPayload
from riskwatch.common.events.envelope import Envelope

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
