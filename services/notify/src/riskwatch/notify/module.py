"""The notify service as a module: routers, topics, the alarm consumer, the dispatcher and the
outbox relay; optionally the demo roster, seeded when the components are built."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
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
from riskwatch.common.events.topics import ALARMS, DUTY, NOTIFICATIONS, WORKORDERS, dlq_topic
from riskwatch.common.periodic import Periodic
from riskwatch.notify import models_all
from riskwatch.notify.duty.handover_router import router as handover_router
from riskwatch.notify.duty.import_router import router as import_router
from riskwatch.notify.duty.importer import seed_demo
from riskwatch.notify.duty.router import router as duty_router
from riskwatch.notify.duty.sms_router import router as sms_router
from riskwatch.notify.duty.watch import check_in_watch
from riskwatch.notify.escalation.router import router as escalation_router
from riskwatch.notify.escalation.worker import escalator
from riskwatch.notify.models import SCHEMA, inbox, outbox, principals
from riskwatch.notify.notifications.attempts_router import router as attempts_router
from riskwatch.notify.notifications.breaker import BreakerPolicy, CircuitBreakers
from riskwatch.notify.notifications.channels import channels_from
from riskwatch.notify.notifications.dispatcher import Dispatcher
from riskwatch.notify.notifications.handlers import alarm_handler
from riskwatch.notify.notifications.router import router as notifications_router
from riskwatch.notify.notifications.service import RetryPolicy
from riskwatch.notify.notifications.storm_service import caps_from
from riskwatch.notify.notifications.stream_router import router as stream_router
from riskwatch.notify.notifications.webhooks_router import router as webhooks_router
from riskwatch.notify.settings import NotifySettings
from riskwatch.notify.templates.router import router as templates_router

MIGRATIONS = Path(__file__).resolve().parents[3] / "migrations"
GROUP = "notify"
metadata = models_all.metadata


class NotifyModule:
    name = "notify"
    schema = SCHEMA
    migrations_dir = MIGRATIONS
    outbox = outbox
    principals = principals

    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings

    def routers(self) -> Sequence[APIRouter]:
        return [
            stream_router,  # before GET /notifications/{notification_id}
            notifications_router,
            escalation_router,
            duty_router,
            handover_router,
            import_router,
            sms_router,
            templates_router,
            attempts_router,
            webhooks_router,
        ]

    def topics(self, runtime: Runtime) -> Sequence[TopicSpec]:
        partitions = runtime.settings.kafka.default_partitions
        return [
            TopicSpec(ALARMS, partitions),
            TopicSpec(WORKORDERS, partitions),
            TopicSpec(NOTIFICATIONS, partitions),
            TopicSpec(DUTY, partitions),
            TopicSpec(dlq_topic(GROUP), 1),
            *accounts_topics(runtime, service=GROUP),
        ]

    async def components(self, runtime: Runtime) -> Sequence[Named]:
        settings = self.settings
        sessions = runtime.sessions
        housekeeping = [inbox_pruner(runtime, inbox, schema=SCHEMA)]
        if settings.seed_demo_roster:

            async def seed() -> None:
                await seed_demo(
                    sessions,
                    runtime.catalog,
                    datetime.now(UTC),
                    robot_hosts=settings.robot_allowed_hosts,
                )

            # Here rather than in an on_startup hook, so every app that mounts this module (the
            # service alone, the embedded platform) seeds without wiring anything. Idempotent;
            # re-run every 6 h so a long-running demo never runs out of shifts.
            await seed()
            housekeeping.append(
                Named(
                    "worker",
                    f"{SCHEMA}-demo-roster",
                    Periodic("demo-roster", seed, interval_s=6 * 3600),
                )
            )
        caps = caps_from(settings, runtime.catalog.district.zone)
        dispatcher = Dispatcher(
            sessions,
            channels_from(settings),
            retry=RetryPolicy(
                max_attempts=settings.dispatcher_max_attempts,
                initial_s=settings.dispatcher_retry_initial_s,
                maximum_s=settings.dispatcher_retry_max_s,
                fallback_after_failures=settings.fallback_after_failures,
            ),
            batch_size=settings.dispatcher_batch_size,
            poll_interval_s=settings.dispatcher_poll_interval_s,
            send_timeout_s=settings.dispatcher_send_timeout_s,
            lease_s=settings.dispatcher_lease_s,
            breakers=CircuitBreakers(
                BreakerPolicy(
                    failures=settings.breaker_failures,
                    cool_down=timedelta(seconds=settings.breaker_cool_down_s),
                ),
                clock=lambda: datetime.now(UTC),
            ),
        )
        return [
            consumer(
                runtime,
                group=GROUP,
                topics=[ALARMS, WORKORDERS],
                handler=inbox.handler(
                    runtime.consumer_sessions,
                    group=GROUP,
                    handle=alarm_handler(runtime.catalog, grace=settings.check_in_grace, caps=caps),
                    after_commit=dispatcher.wake,
                ),
            ),
            accounts_consumer(runtime, service=GROUP, principals=principals, inbox=inbox),
            Named("worker", f"{SCHEMA}-dispatcher", dispatcher),
            Named(
                "worker",
                f"{SCHEMA}-check-in-watch",
                Periodic(
                    "check-in-watch",
                    check_in_watch(
                        sessions,
                        grace=settings.check_in_grace,
                        tz=runtime.catalog.district.zone,
                        clock=lambda: datetime.now(UTC),
                        after=dispatcher.wake,
                    ),
                    interval_s=settings.check_in_watch_interval_s,
                ),
            ),
            Named(
                "worker",
                f"{SCHEMA}-escalator",
                Periodic(
                    "escalator",
                    escalator(
                        sessions,
                        grace=settings.check_in_grace,
                        clock=lambda: datetime.now(UTC),
                        after=dispatcher.wake,
                        caps=caps,
                        batch_size=settings.escalation_batch_size,
                    ),
                    interval_s=settings.escalation_poll_s,
                    run_at_start=True,
                ),
            ),
            relay(runtime, outbox),
            *housekeeping,
        ]
