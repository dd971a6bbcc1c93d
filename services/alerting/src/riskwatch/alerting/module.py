"""The alerting service as a module: routers, topics, consumers per sector, outbox relay."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi import APIRouter

from riskwatch.alerting import models_all
from riskwatch.alerting.alarms.handlers import (
    device_status_handler,
    on_work_order,
    readings_handler,
)
from riskwatch.alerting.alarms.router import router as alarms_router
from riskwatch.alerting.models import SCHEMA, inbox, outbox, principals
from riskwatch.alerting.rules.cache import RuleCache
from riskwatch.alerting.rules.router import router as rules_router
from riskwatch.alerting.settings import AlertingSettings
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
from riskwatch.common.events.topics import (
    ALARMS,
    WORKORDERS,
    device_status_topic,
    dlq_topic,
    readings_topic,
)

MIGRATIONS = Path(__file__).resolve().parents[3] / "migrations"
GROUP = "alerting"
metadata = models_all.metadata


# Devices' liveness (ingest's device-status topics), one group for every sector: a few events.
DEVICE_STATUS_GROUP = f"{GROUP}.device-status"


def readings_group(sector_id: str) -> str:
    """Each sector has its own consumer group, so one sector's backlog never delays another."""
    return f"{GROUP}.{sector_id}"


class AlertingModule:
    name = "alerting"
    schema = SCHEMA
    migrations_dir = MIGRATIONS
    outbox = outbox
    principals = principals

    def __init__(self, settings: AlertingSettings) -> None:
        self.settings = settings

    def routers(self) -> Sequence[APIRouter]:
        return [rules_router, alarms_router]

    def topics(self, runtime: Runtime) -> Sequence[TopicSpec]:
        kafka = runtime.settings.kafka
        sectors = runtime.catalog.resolve_sectors(self.settings.sectors)
        specs = [TopicSpec(readings_topic(s), kafka.readings_partitions) for s in sectors]
        specs += [TopicSpec(dlq_topic(readings_group(s)), 1) for s in sectors]
        specs += [TopicSpec(device_status_topic(s), kafka.default_partitions) for s in sectors]
        specs.append(TopicSpec(dlq_topic(DEVICE_STATUS_GROUP), 1))
        specs += [
            TopicSpec(ALARMS, kafka.default_partitions),
            TopicSpec(WORKORDERS, kafka.default_partitions),
            TopicSpec(dlq_topic(GROUP), 1),
            *accounts_topics(runtime, service=GROUP),
        ]
        return specs

    async def components(self, runtime: Runtime) -> Sequence[Named]:
        sessions = runtime.consumer_sessions
        on_readings = readings_handler(runtime.singleton(RuleCache, RuleCache))
        parts = [
            consumer(
                runtime,
                group=readings_group(sector),
                topics=[readings_topic(sector)],
                handler=inbox.batch_handler(
                    sessions, group=readings_group(sector), handle=on_readings
                ),
            )
            for sector in runtime.catalog.resolve_sectors(self.settings.sectors)
        ]
        sectors = runtime.catalog.resolve_sectors(self.settings.sectors)
        parts += [
            consumer(
                runtime,
                group=DEVICE_STATUS_GROUP,
                topics=[device_status_topic(s) for s in sectors],
                handler=inbox.handler(
                    sessions,
                    group=DEVICE_STATUS_GROUP,
                    handle=device_status_handler(self.settings.liveness_alarm_level),
                ),
            ),
            consumer(
                runtime,
                group=GROUP,
                topics=[WORKORDERS],
                handler=inbox.handler(sessions, group=GROUP, handle=on_work_order),
            ),
            accounts_consumer(runtime, service=GROUP, principals=principals, inbox=inbox),
            relay(runtime, outbox),
            inbox_pruner(runtime, inbox, schema=SCHEMA),
        ]
        return parts
