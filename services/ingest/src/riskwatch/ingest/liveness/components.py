"""Liveness's background parts: a consumer of every sector's readings (its own group, so the
alarms' consumers never wait for it) and the watcher that marks overdue devices offline."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common.app import Named, Runtime, consumer
from riskwatch.common.bus import TopicSpec
from riskwatch.common.events import EventPayload
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.events.topics import dlq_topic, readings_topic
from riskwatch.common.periodic import Periodic
from riskwatch.ingest.liveness.service import OVERDUE_BATCH, mark_overdue, record_readings
from riskwatch.ingest.liveness.settings import LivenessSettings
from riskwatch.ingest.models import inbox

GROUP = "ingest-liveness"
Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def readings_group(sector_id: str) -> str:
    return f"{GROUP}.{sector_id}"


async def on_readings(session: AsyncSession, events: Sequence[Envelope[EventPayload]]) -> None:
    await record_readings(session, events=events)


async def watch_once(
    sessions: async_sessionmaker[AsyncSession], *, now: datetime, limit: int = OVERDUE_BATCH
) -> int:
    """One round of the watcher: every overdue device, `limit` per transaction."""
    changed = 0
    while True:
        async with sessions() as session, session.begin():
            staged = await mark_overdue(session, now=now, limit=limit)
        changed += len(staged)
        if len(staged) < limit:
            return changed


def liveness_topics(runtime: Runtime, sectors: Sequence[str]) -> list[TopicSpec]:
    """The dead letters of the readings groups (the readings and device-status topics are the
    module's already)."""
    return [TopicSpec(dlq_topic(readings_group(s)), 1) for s in sectors]


def liveness_components(
    runtime: Runtime,
    settings: LivenessSettings,
    sectors: Sequence[str],
    *,
    clock: Clock = _utc_now,
) -> list[Named]:
    parts = [
        consumer(
            runtime,
            group=readings_group(sector),
            topics=[readings_topic(sector)],
            handler=inbox.batch_handler(
                runtime.consumer_sessions, group=readings_group(sector), handle=on_readings
            ),
        )
        for sector in sectors
    ]

    async def watch() -> None:
        await watch_once(runtime.sessions, now=clock())

    parts.append(
        Named(
            "worker",
            f"{GROUP}-watcher",
            Periodic(f"{GROUP}-watcher", watch, interval_s=settings.watch_interval_s),
        )
    )
    return parts
