"""The ingest service as a module: its routers, topics and migrations."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi import APIRouter

from riskwatch.common.app import Named, Runtime, relay
from riskwatch.common.bus import TopicSpec
from riskwatch.common.events.topics import device_status_topic, readings_topic
from riskwatch.ingest.catalog.router import router as catalog_router
from riskwatch.ingest.deps import budgets
from riskwatch.ingest.devices.router import router as devices_router
from riskwatch.ingest.models import SCHEMA, outbox
from riskwatch.ingest.readings.router import router as readings_router
from riskwatch.ingest.settings import IngestSettings

MIGRATIONS = Path(__file__).resolve().parents[3] / "migrations"


class IngestModule:
    name = "ingest"
    schema = SCHEMA
    migrations_dir = MIGRATIONS
    outbox = outbox

    def __init__(self, settings: IngestSettings) -> None:
        self.settings = settings

    def routers(self) -> Sequence[APIRouter]:
        return [readings_router, devices_router, catalog_router]

    def topics(self, runtime: Runtime) -> Sequence[TopicSpec]:
        kafka = runtime.settings.kafka
        sectors = runtime.catalog.resolve_sectors(self.settings.sectors)
        return [TopicSpec(readings_topic(s), kafka.readings_partitions) for s in sectors] + [
            TopicSpec(device_status_topic(s), kafka.default_partitions) for s in sectors
        ]

    async def components(self, runtime: Runtime) -> Sequence[Named]:
        budgets(runtime, self.settings)  # at start-up: a budget for an unknown sector stops it
        return [relay(runtime, outbox)]
