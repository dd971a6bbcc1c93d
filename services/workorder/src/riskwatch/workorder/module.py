"""The workorder service as a module: routers, topics, consumers, timers, outbox relay."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.app import (
    Named,
    Runtime,
    accounts_consumer,
    accounts_topics,
    consumer,
    inbox_pruner,
    relay,
)
from riskwatch.common.bus import TopicSpec
from riskwatch.common.events import EventPayload
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.events.topics import ALARMS, DUTY, WORKORDERS, dlq_topic
from riskwatch.common.periodic import Periodic
from riskwatch.workorder import models_all
from riskwatch.workorder.evidence.router import router as evidence_router
from riskwatch.workorder.loop import loop_of
from riskwatch.workorder.manual.router import MAX_MANUAL_BYTES
from riskwatch.workorder.manual.router import router as manual_router
from riskwatch.workorder.manual.service import seed_demo_manual
from riskwatch.workorder.models import SCHEMA, inbox, outbox, principals
from riskwatch.workorder.settings import WorkOrderSettings
from riskwatch.workorder.workorders.handlers import on_alarm, on_duty
from riskwatch.workorder.workorders.router import bulletins_router
from riskwatch.workorder.workorders.router import router as workorders_router
from riskwatch.workorder.workorders.worker import bulletin_job, timer_job

MIGRATIONS = Path(__file__).resolve().parents[3] / "migrations"
GROUP = "workorder"
metadata = models_all.metadata


def _now() -> datetime:
    return datetime.now(UTC)


class WorkOrderModule:
    name = "workorder"
    schema = SCHEMA
    migrations_dir = MIGRATIONS
    outbox = outbox
    principals = principals

    def __init__(self, settings: WorkOrderSettings) -> None:
        self.settings = settings

    def routers(self) -> Sequence[APIRouter]:
        return [bulletins_router, manual_router, evidence_router, workorders_router]

    def bulk_routes(self) -> dict[tuple[str, str], int]:
        """Bodies larger than the default 1 MiB: an evidence upload (its limit plus the
        multipart envelope) and a command manual file."""
        return {
            ("POST", evidence_router.prefix): self.settings.evidence.max_bytes + 64 * 1024,
            ("POST", "/api/v1/command-manual/versions"): MAX_MANUAL_BYTES,
            ("POST", "/api/v1/command-manual/versions/import"): MAX_MANUAL_BYTES,
        }

    def topics(self, runtime: Runtime) -> Sequence[TopicSpec]:
        partitions = runtime.settings.kafka.default_partitions
        return [
            TopicSpec(ALARMS, partitions),
            TopicSpec(WORKORDERS, partitions),
            TopicSpec(DUTY, partitions),
            TopicSpec(dlq_topic(GROUP), 1),
            *accounts_topics(runtime, service=GROUP),
        ]

    async def components(self, runtime: Runtime) -> Sequence[Named]:
        settings = self.settings
        loop = loop_of(runtime, settings)
        alarms = on_alarm(loop, _now)

        async def handle(session: AsyncSession, envelope: Envelope[EventPayload]) -> None:
            if envelope.data.event_type.startswith("rw.duty."):
                await on_duty(session, envelope)
            else:
                await alarms(session, envelope)

        if settings.seed_demo_manual:
            async with runtime.sessions() as session, session.begin():
                await seed_demo_manual(session, catalog=runtime.catalog, now=_now())
        return [
            consumer(
                runtime,
                group=GROUP,
                topics=[ALARMS, DUTY],
                handler=inbox.handler(runtime.consumer_sessions, group=GROUP, handle=handle),
            ),
            accounts_consumer(runtime, service=GROUP, principals=principals, inbox=inbox),
            relay(runtime, outbox),
            inbox_pruner(runtime, inbox, schema=SCHEMA),
            Named(
                "worker",
                f"{SCHEMA}-timers",
                Periodic(
                    "workorder-timers",
                    timer_job(
                        runtime.sessions,
                        fraction=settings.stage_remind_at,
                        clock=_now,
                        batch_size=settings.timer_batch_size,
                    ),
                    interval_s=settings.timer_poll_s,
                ),
            ),
            Named(
                "worker",
                f"{SCHEMA}-bulletin",
                Periodic(
                    "overdue-bulletin",
                    bulletin_job(runtime.sessions, tz=runtime.catalog.district.zone, clock=_now),
                    interval_s=settings.bulletin_check_s,
                    run_at_start=True,
                ),
            ),
        ]
