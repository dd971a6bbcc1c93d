"""The workorder service as a module: routers, topics, the alarms consumer, outbox relay."""

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
    relay,
)
from riskwatch.common.bus import TopicSpec
from riskwatch.common.events.topics import ALARMS, WORKORDERS, dlq_topic
from riskwatch.workorder import models_all
from riskwatch.workorder.models import SCHEMA, inbox, outbox, principals
from riskwatch.workorder.settings import WorkOrderSettings
from riskwatch.workorder.workorders.handlers import on_alarm
from riskwatch.workorder.workorders.router import router as workorders_router

MIGRATIONS = Path(__file__).resolve().parents[3] / "migrations"
GROUP = "workorder"
metadata = models_all.metadata


class WorkOrderModule:
    name = "workorder"
    schema = SCHEMA
    migrations_dir = MIGRATIONS
    outbox = outbox
    principals = principals

    def __init__(self, settings: WorkOrderSettings) -> None:
        self.settings = settings

    def routers(self) -> Sequence[APIRouter]:
        return [workorders_router]

    def topics(self, runtime: Runtime) -> Sequence[TopicSpec]:
        partitions = runtime.settings.kafka.default_partitions
        return [
            TopicSpec(ALARMS, partitions),
            TopicSpec(WORKORDERS, partitions),
            TopicSpec(dlq_topic(GROUP), 1),
            *accounts_topics(runtime, service=GROUP),
        ]

    async def components(self, runtime: Runtime) -> Sequence[Named]:
        policy = self.settings.disposal_deadlines.policy()
        return [
            consumer(
                runtime,
                group=GROUP,
                topics=[ALARMS],
                handler=inbox.handler(
                    runtime.consumer_sessions, group=GROUP, handle=on_alarm(policy)
                ),
            ),
            accounts_consumer(runtime, service=GROUP, principals=principals, inbox=inbox),
            relay(runtime, outbox),
            inbox_pruner(runtime, inbox, schema=SCHEMA),
        ]
