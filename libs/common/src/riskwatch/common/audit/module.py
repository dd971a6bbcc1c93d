"""The audit trail's owner as a module: its consumer of `rw.audit`, its API, its housekeeping.

Hosted by the reporting service (distributed mode) and by the embedded platform; whichever
hosts it runs its migrations (`MIGRATIONS`) beside its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from riskwatch.common.app import Named, Runtime, consumer, inbox_pruner
from riskwatch.common.audit import service
from riskwatch.common.audit.housekeeping import housekeeper
from riskwatch.common.audit.models import SCHEMA, inbox
from riskwatch.common.audit.router import router
from riskwatch.common.audit.settings import AuditSettings
from riskwatch.common.bus import TopicSpec
from riskwatch.common.db import create_sessionmaker
from riskwatch.common.events.base import EventPayload
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.events.topics import AUDIT, dlq_topic
from riskwatch.common.settings import ServiceSettings

MIGRATIONS = Path(__file__).parent / "migrations"
GROUP = "audit"


async def _store(session: AsyncSession, events: Sequence[Envelope[EventPayload]]) -> None:
    await service.store_events(session, events, now=datetime.now(UTC))


class AuditModule:
    name = "audit"
    schema = SCHEMA
    migrations_dir = MIGRATIONS

    def __init__(
        self,
        settings: ServiceSettings,
        audit: AuditSettings | None = None,
        *,
        owner_url: str | None = None,
    ) -> None:
        self.settings = settings
        self.audit = audit if audit is not None else AuditSettings()
        # Where the owner of audit.record connects, when the services' own role may only read
        # and append: making and dropping partitions takes the owner. Given here (embedded
        # mode) or by RW_AUDIT__OWNER_URL (the reporting service).
        if owner_url is None and self.audit.owner_url is not None:
            owner_url = self.audit.owner_url.get_secret_value()
        self.owner_url = owner_url

    def routers(self) -> Sequence[APIRouter]:
        return [router]

    def topics(self, runtime: Runtime) -> Sequence[TopicSpec]:
        return [
            TopicSpec(AUDIT, runtime.settings.kafka.default_partitions),
            TopicSpec(dlq_topic(GROUP), 1),
        ]

    async def components(self, runtime: Runtime) -> Sequence[Named]:
        owner_sessions = runtime.sessions
        if self.owner_url is not None:
            # An hourly job: a connection per run (NullPool), none held in between.
            engine = create_async_engine(self.owner_url, poolclass=NullPool)
            owner_sessions = create_sessionmaker(engine)
        # One chain: every batch, from any partition, takes the chain's lock to append.
        return [
            consumer(
                runtime,
                group=GROUP,
                topics=[AUDIT],
                handler=inbox.batch_handler(runtime.consumer_sessions, group=GROUP, handle=_store),
            ),
            inbox_pruner(runtime, inbox, schema=SCHEMA),
            Named("worker", "audit-housekeeping", housekeeper(owner_sessions, settings=self.audit)),
        ]
