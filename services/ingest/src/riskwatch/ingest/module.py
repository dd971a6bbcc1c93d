"""The ingest service as a module: its routers, topics and migrations, and the consumer of the
accounts that tokens are checked against."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from riskwatch.common.app import (
    Named,
    Runtime,
    accounts_consumer,
    accounts_topics,
    inbox_pruner,
    relay,
)
from riskwatch.common.bus import TopicSpec
from riskwatch.common.db import create_sessionmaker
from riskwatch.common.events.topics import device_status_topic, readings_topic
from riskwatch.common.periodic import Periodic
from riskwatch.ingest.catalog.router import router as catalog_router
from riskwatch.ingest.deps import budgets
from riskwatch.ingest.devices.profiles_router import router as profiles_router
from riskwatch.ingest.devices.router import BULK_PATH, bulk_max_body_bytes
from riskwatch.ingest.devices.router import router as devices_router
from riskwatch.ingest.inbound.components import inbound_components, inbound_topics
from riskwatch.ingest.liveness.components import liveness_components
from riskwatch.ingest.liveness.router import router as liveness_router
from riskwatch.ingest.models import SCHEMA, inbox, outbox, principals
from riskwatch.ingest.mqtt.components import mqtt_components
from riskwatch.ingest.mqtt.router import router as mqtt_router
from riskwatch.ingest.readings import router as readings
from riskwatch.ingest.readings.partitions import housekeeping_job
from riskwatch.ingest.readings.quality_job import quality_counter, quality_topics
from riskwatch.ingest.settings import IngestSettings

MIGRATIONS = Path(__file__).resolve().parents[3] / "migrations"


class IngestModule:
    name = "ingest"
    schema = SCHEMA
    migrations_dir = MIGRATIONS
    outbox = outbox
    principals = principals

    def __init__(self, settings: IngestSettings, *, owner_url: str | None = None) -> None:
        self.settings = settings
        # The schema owner's URL for the raw store's partitions (embedded mode, where the
        # services connect as a role that may not create tables).
        self.owner_url = owner_url

    def routers(self) -> Sequence[APIRouter]:
        # The liveness routes before the devices': /devices/online-rate is not a device id.
        return [
            readings.router,
            liveness_router,
            devices_router,
            profiles_router,
            mqtt_router,
            catalog_router,
        ]

    def bulk_routes(self) -> dict[tuple[str, str], int]:
        """Gateways' batches: a body limit of their own, sized by RW_MAX_BATCH_ITEMS, and the
        admission of readings/admission.py instead of the per-address limit."""
        return {
            ("POST", readings.PATH): readings.max_body_bytes(self.settings.max_batch_items),
            ("POST", BULK_PATH): bulk_max_body_bytes(),
        }

    def topics(self, runtime: Runtime) -> Sequence[TopicSpec]:
        kafka = runtime.settings.kafka
        sectors = runtime.catalog.resolve_sectors(self.settings.sectors)
        return [
            *(TopicSpec(readings_topic(s), kafka.readings_partitions) for s in sectors),
            *(TopicSpec(device_status_topic(s), kafka.default_partitions) for s in sectors),
            *quality_topics(runtime),
            *inbound_topics(runtime, self.settings),
            *accounts_topics(runtime, service=self.name),
        ]

    async def components(self, runtime: Runtime) -> Sequence[Named]:
        budgets(runtime, self.settings)  # at start-up: a budget for an unknown sector stops it
        store = self.settings.readings
        owner_sessions = runtime.sessions
        owner_url = self.owner_url or (
            store.owner_url.get_secret_value() if store.owner_url else None
        )
        if owner_url is not None:
            # An hourly job: a connection per run (NullPool), none held in between.
            owner_sessions = create_sessionmaker(create_async_engine(owner_url, poolclass=NullPool))
        return [
            Named(
                "worker",
                f"{SCHEMA}-reading-partitions",
                Periodic(
                    "reading-partitions",
                    housekeeping_job(
                        owner_sessions,
                        ahead_days=store.partitions_ahead_days,
                        retention_days=store.retention_days,
                        clock=lambda: datetime.now(UTC),
                    ),
                    interval_s=3600,
                    run_at_start=True,
                ),
            ),
            accounts_consumer(runtime, service=self.name, principals=principals, inbox=inbox),
            quality_counter(runtime, runtime.catalog.resolve_sectors(self.settings.sectors)),
            relay(runtime, outbox),
            inbox_pruner(runtime, inbox, schema=SCHEMA),
            *mqtt_components(runtime, self.settings, self.settings.mqtt),
            *inbound_components(runtime, self.settings),
            *liveness_components(runtime, self.settings.liveness),
        ]
