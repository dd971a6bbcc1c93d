"""The reporting service as a module: routers, topics, and one consumer of every topic it reads."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi import APIRouter

from riskwatch.common.app import (
    Named,
    Runtime,
    accounts_consumer,
    accounts_topics,
    consumer,
    inbox_pruner,
)
from riskwatch.common.bus import TopicSpec
from riskwatch.common.events.topics import (
    ALARMS,
    DUTY,
    NOTIFICATIONS,
    READING_QUALITY,
    REPORTS,
    WORKORDERS,
    device_status_topic,
    dlq_topic,
)
from riskwatch.reporting import models_all
from riskwatch.reporting.models import SCHEMA, inbox, principals
from riskwatch.reporting.projections.handlers import on_event
from riskwatch.reporting.reports.router import router as reports_router
from riskwatch.reporting.settings import ReportingSettings

MIGRATIONS = Path(__file__).resolve().parents[3] / "migrations"
GROUP = "reporting"
CONSUMED = (ALARMS, WORKORDERS, NOTIFICATIONS, DUTY, READING_QUALITY)
metadata = models_all.metadata


def consumed(runtime: Runtime) -> list[str]:
    """Every topic reporting reads: the district's, and every sector's device status (the
    report covers the district whatever RW_SECTORS says)."""
    return [*CONSUMED, *(device_status_topic(s) for s in runtime.catalog.sector_ids())]


class ReportingModule:
    name = "reporting"
    schema = SCHEMA
    migrations_dir = MIGRATIONS
    principals = principals

    def __init__(self, settings: ReportingSettings) -> None:
        self.settings = settings

    def routers(self) -> Sequence[APIRouter]:
        return [reports_router]

    def topics(self, runtime: Runtime) -> Sequence[TopicSpec]:
        partitions = runtime.settings.kafka.default_partitions
        specs = [TopicSpec(topic, partitions) for topic in (*consumed(runtime), REPORTS)]
        specs.append(TopicSpec(dlq_topic(GROUP), 1))
        specs += accounts_topics(runtime, service=GROUP)
        return specs

    async def components(self, runtime: Runtime) -> Sequence[Named]:
        # One group for every topic: the projections join rows by alarm_id, whatever order the
        # topics deliver them in; device status and quality counts are a few events an hour.
        # No relay: reporting has no outbox until it emits rw.reports.
        return [
            consumer(
                runtime,
                group=GROUP,
                topics=consumed(runtime),
                handler=inbox.handler(runtime.consumer_sessions, group=GROUP, handle=on_event),
            ),
            accounts_consumer(runtime, service=GROUP, principals=principals, inbox=inbox),
            inbox_pruner(runtime, inbox, schema=SCHEMA),
        ]
