"""Transactional outbox: an event is written in the same transaction as the change it reports,
and a relay publishes it afterwards. A crash between the commit and the publish loses nothing.

One relay per schema is active at a time (a PostgreSQL advisory lock), so rows go out in id
order and per-key order holds. The relay wakes on NOTIFY from the writing transaction and polls
as a fallback. On a non-durable bus (embedded mode) a row counts as published only once every
subscribed consumer group has committed past it; until then a restart publishes it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import structlog
from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common import metrics
from riskwatch.common.background import BackgroundTask
from riskwatch.common.bus.base import Bus, Position, Record
from riskwatch.common.db import UTCDateTime
from riskwatch.common.events.base import EventPayload
from riskwatch.common.events.envelope import Envelope, encode
from riskwatch.common.retry import backoff

log = structlog.get_logger(__name__)


class Outbox:
    """The outbox table of one service schema, and how to write to it."""

    def __init__(self, metadata: MetaData) -> None:
        if not metadata.schema:
            raise ValueError("the outbox lives in a service schema; MetaData needs schema=")
        self.schema: str = metadata.schema
        self.channel = f"rw_outbox_{self.schema}"
        self.table = Table(
            "outbox",
            metadata,
            Column("id", BigInteger, primary_key=True, autoincrement=True),
            Column("event_id", String(64), nullable=False),
            Column("topic", String(255), nullable=False),
            Column("key", String(255), nullable=True),
            Column("headers", JSONB, nullable=False),
            Column("value", LargeBinary, nullable=False),
            Column("created_at", UTCDateTime(), nullable=False, server_default=func.now()),
            Column("published_at", UTCDateTime(), nullable=True),
            Index("ix_outbox_unpublished", "id", postgresql_where=text("published_at IS NULL")),
        )

    async def add(
        self,
        session: AsyncSession,
        topic: str,
        envelope: Envelope[EventPayload],
        *,
        key: str | None = None,
    ) -> None:
        """Stage an event in the caller's transaction; it is published after the commit."""
        await self.add_many(session, [(topic, envelope, key)])

    async def add_many(
        self,
        session: AsyncSession,
        events: Sequence[tuple[str, Envelope[EventPayload], str | None]],
    ) -> None:
        if not events:
            return
        rows = []
        for topic, envelope, key in events:
            headers, value = encode(envelope)
            rows.append(
                {
                    "event_id": envelope.id,
                    "topic": topic,
                    "key": key if key is not None else envelope.subject,
                    "headers": {k: v.decode() for k, v in headers},
                    "value": value,
                }
            )
        await session.execute(self.table.insert(), rows)
        # NOTIFY is delivered at commit (and folded into one per transaction by PostgreSQL).
        await session.execute(select(func.pg_notify(self.channel, "")))

    def relay(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: Bus,
        *,
        dsn: str,
        poll_interval_s: float = 0.5,
        batch_size: int = 500,
    ) -> OutboxRelay:
        return OutboxRelay(
            self, sessions, bus, dsn=dsn, poll_interval_s=poll_interval_s, batch_size=batch_size
        )


@dataclass(slots=True)
class _InFlight:
    row_id: int
    position: Position


class OutboxRelay(BackgroundTask):
    def __init__(
        self,
        outbox: Outbox,
        sessions: async_sessionmaker[AsyncSession],
        bus: Bus,
        *,
        dsn: str,
        poll_interval_s: float,
        batch_size: int,
        retention_s: float = 24 * 3600,
    ) -> None:
        super().__init__(f"outbox-relay:{outbox.schema}")
        self._outbox = outbox
        self._sessions = sessions
        self._bus = bus
        self._dsn = dsn.replace("postgresql+asyncpg://", "postgresql://", 1)
        self._poll = poll_interval_s
        self._batch = batch_size
        self._retention_s = retention_s
        # Non-durable bus only: published rows waiting for every group to commit past them.
        self._inflight: list[_InFlight] = []
        self._inflight_ids: set[int] = set()
        self.is_leader = False
        self.published = 0

    async def _run(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            try:
                conn = await asyncpg.connect(self._dsn)
            except Exception:
                attempt += 1
                log.warning("outbox_connect_failed", schema=self._outbox.schema, exc_info=True)
                await self._sleep(backoff(attempt, initial=0.2, maximum=5.0))
                continue
            try:
                attempt = 0
                await self._lead(conn)
            except asyncio.CancelledError:
                raise
            except Exception:
                attempt += 1
                log.warning("outbox_relay_error", schema=self._outbox.schema, exc_info=True)
                await self._sleep(backoff(attempt, initial=0.2, maximum=5.0))
            finally:
                self.is_leader = False
                with contextlib.suppress(Exception):
                    await conn.close(timeout=2)
            # Anything in flight on a lost connection is re-read from the table.
            self._inflight.clear()
            self._inflight_ids.clear()

    async def _lead(self, conn: asyncpg.Connection) -> None:
        lock_id = _lock_id(self._outbox.schema)
        while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", lock_id):
            if await self._sleep(self._poll * 4):
                return
        self.is_leader = True
        await conn.add_listener(self._outbox.channel, self._on_notify)
        log.info("outbox_relay_leading", schema=self._outbox.schema)
        last_cleanup = 0.0
        while not self._stopping.is_set():
            self._wake.clear()
            published = await self._publish_batch()
            await self._settle_inflight()
            if time.monotonic() - last_cleanup > 60:
                await self._cleanup()
                last_cleanup = time.monotonic()
            if published < self._batch:
                await self._sleep(self._poll if not self._inflight else min(self._poll, 0.05))
            if conn.is_closed():
                raise ConnectionError("outbox listener connection closed")
        if self._bus.durable:
            # Stopping (SIGTERM): what the last batches staged goes out now, not at the next
            # start; the stop's timeout bounds this.
            while await self._publish_batch() == self._batch:
                pass

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _publish_batch(self) -> int:
        table = self._outbox.table
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(
                        table.c.id,
                        table.c.topic,
                        table.c.key,
                        table.c.headers,
                        table.c.value,
                        table.c.created_at,
                    )
                    .where(table.c.published_at.is_(None), table.c.id.not_in(self._inflight_ids))
                    .order_by(table.c.id)
                    .limit(self._batch)
                )
            ).all()
        if not rows:
            return 0
        records = [
            Record(
                topic=r.topic,
                key=r.key,
                value=r.value,
                headers=[(k, v.encode()) for k, v in r.headers.items()],
            )
            for r in rows
        ]
        positions = await self._bus.publish(records)
        now = datetime.now(UTC)
        for r in rows:
            metrics.OUTBOX_PUBLISH_SECONDS.labels(self._outbox.schema).observe(
                (now - r.created_at).total_seconds()
            )
        if self._bus.durable:
            await self._mark([r.id for r in rows])
        else:
            for r, p in zip(rows, positions, strict=True):
                self._inflight.append(_InFlight(r.id, p))
                self._inflight_ids.add(r.id)
        self.published += len(rows)
        return len(rows)

    async def _settle_inflight(self) -> None:
        if not self._inflight:
            return
        done = [f.row_id for f in self._inflight if self._bus.is_consumed(f.position)]
        if done:
            await self._mark(done)
            self._inflight_ids.difference_update(done)
            self._inflight = [f for f in self._inflight if f.row_id in self._inflight_ids]

    async def _mark(self, ids: list[int]) -> None:
        table = self._outbox.table
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(table).where(table.c.id.in_(ids)).values(published_at=func.now())
            )

    async def _cleanup(self) -> None:
        table = self._outbox.table
        async with self._sessions() as session, session.begin():
            await session.execute(
                delete(table).where(
                    table.c.published_at.is_not(None),
                    table.c.published_at < datetime.now(UTC) - timedelta(seconds=self._retention_s),
                )
            )


def _lock_id(schema: str) -> int:
    digest = hashlib.sha256(f"rw-outbox:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)
