"""Fixtures of the Kafka inbound tests: sector systems' CloudEvents, and, for the integration
tests, the session's real Kafka broker and a real PostgreSQL (the devstack plugin's: they fail,
never skip, when they cannot start), ingest's outbox relay, and inbound consumers on topics and
groups of their own per test.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common.bus import EventConsumer, TopicSpec
from riskwatch.common.bus.kafka import KafkaBus
from riskwatch.common.catalog import default_catalog
from riskwatch.common.events.topics import dlq_topic, readings_topic
from riskwatch.common.settings import ConsumerSettings, KafkaSettings
from riskwatch.ingest.devices.cache import DeviceCache
from riskwatch.ingest.devices.schemas import DevicePut
from riskwatch.ingest.devices.service import put_device
from riskwatch.ingest.inbound.consumer import inbound_consumer
from riskwatch.ingest.inbound.domain import InboundChannel
from riskwatch.ingest.inbound.service import Taken
from riskwatch.ingest.models import outbox
from riskwatch.ingest.readings.admission import SectorBudgets
from riskwatch.ingest.readings.models import RawReading
from riskwatch.ingest.readings.service import ReadingsPath

NOW = datetime.now(UTC).replace(microsecond=0)
SOURCE = "/sectors/construction/scada-1"
WAIT = 60.0  # seconds a pipeline step may take on a busy machine: a bound, not a measure


def reading(device_id: str, seconds: int, value: float = 1.0) -> dict[str, Any]:
    return {
        "device_id": device_id,
        "metric": "ch4_lel",
        "value": value,
        "ts": (NOW - timedelta(seconds=seconds)).isoformat(),
    }


def cloud_event(readings: list[Any], **attributes: Any) -> dict[str, Any]:
    """A sector system's event in structured mode; `attributes` change or add attributes."""
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": SOURCE,
        "type": "rw.readings.reported.v1",
        "time": NOW.isoformat(),
        "datacontenttype": "application/json",
        "data": {"readings": readings},
        **attributes,
    }


def binary_mode(event: dict[str, Any]) -> tuple[list[tuple[str, bytes]], bytes]:
    """The same event in binary mode: attributes in ce_* headers, data as the value."""
    headers = [
        (f"ce_{name}", str(value).encode())
        for name, value in event.items()
        if name not in ("data", "datacontenttype")
    ]
    headers.append(("content-type", event["datacontenttype"].encode()))
    return headers, orjson.dumps(event["data"])


# Below: the integration tests' fixtures (real Kafka, real PostgreSQL).


@pytest.fixture
def kafka_settings(kafka_bootstrap: str) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=kafka_bootstrap)


@pytest.fixture
async def bus(kafka_settings: KafkaSettings) -> AsyncIterator[KafkaBus]:
    bus = KafkaBus(kafka_settings, client_id="ingest-inbound-test")
    await bus.start()
    yield bus
    await bus.stop()


@pytest.fixture
async def channel(bus: KafkaBus) -> InboundChannel:
    """Construction's inbound on a topic and group of this test's own, so that tests sharing
    the broker never see each other's records or offsets."""
    tag = uuid.uuid4().hex[:10]
    made = InboundChannel(
        sector="construction",
        topic=f"rw.test-{tag}.inbound",
        group=f"ingest-inbound.test-{tag}",
        rejections=f"rw.test-{tag}.inbound.rejections",
    )
    await bus.ensure_topics(
        [
            TopicSpec(made.topic, 3),
            TopicSpec(made.rejections, 1),
            TopicSpec(dlq_topic(made.group), 1),
            TopicSpec(readings_topic("construction"), 3),
        ]
    )
    return made


@pytest.fixture
async def relay(
    committed_db: str, sessions: async_sessionmaker[AsyncSession], bus: KafkaBus
) -> AsyncIterator[None]:
    """Ingest's outbox relay: the rejections go out through it."""
    component = outbox.relay(sessions, bus, dsn=committed_db, poll_interval_s=0.1)
    await component.start()
    yield
    await component.stop()


def readings_path(sessions: async_sessionmaker[AsyncSession], bus: KafkaBus) -> ReadingsPath:
    return ReadingsPath(
        sessions=sessions,
        bus=bus,
        devices=DeviceCache(max_entries=1000),
        budgets=SectorBudgets({}),
        serves=lambda _: True,
        future_tolerance=timedelta(minutes=5),
        publish_timeout_s=10.0,
        max_items=5000,
    )


class Outcomes:
    """What a consumer took, run by run."""

    def __init__(self) -> None:
        self.runs: list[Taken] = []

    def record(self, taken: Taken) -> None:
        self.runs.append(taken)

    def total(self, field: str) -> int:
        return sum(getattr(run, field) for run in self.runs)


ConsumerFactory = Callable[[], AbstractAsyncContextManager[tuple[EventConsumer, Outcomes]]]
CONSUMER_SETTINGS = ConsumerSettings(max_attempts=2, backoff_initial_s=0.05, backoff_max_s=0.5)


@pytest.fixture
def consumer(
    sessions: async_sessionmaker[AsyncSession], bus: KafkaBus, channel: InboundChannel
) -> ConsumerFactory:
    @asynccontextmanager
    async def running() -> AsyncIterator[tuple[EventConsumer, Outcomes]]:
        outcomes = Outcomes()
        component = inbound_consumer(
            bus,
            channel,
            path=readings_path(sessions, bus),
            max_readings=5000,
            settings=CONSUMER_SETTINGS,
            on_taken=outcomes.record,
        )
        await component.start()
        try:
            yield component, outcomes
        finally:
            await component.stop()

    return running


async def register(sessions: async_sessionmaker[AsyncSession]) -> str:
    """A new device of construction (Lujiazui's gas scenario), with a unique id."""
    device_id = f"gas-{uuid.uuid4().hex[:10]}"
    async with sessions.begin() as session:
        await put_device(
            session,
            catalog=default_catalog(),
            device_id=device_id,
            data=DevicePut(name=device_id, scenario_id="gas", town_id="lujiazui"),
        )
    return device_id


async def stored(sessions: async_sessionmaker[AsyncSession], device_id: str) -> int:
    async with sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(RawReading).where(RawReading.device_id == device_id)
        )
        return int(count or 0)


async def outbox_drained(sessions: async_sessionmaker[AsyncSession], topic: str) -> bool:
    """Whether the relay has published every row staged for `topic`."""
    table = outbox.table
    async with sessions() as session:
        left = await session.scalar(
            select(func.count())
            .select_from(table)
            .where(table.c.topic == topic, table.c.published_at.is_(None))
        )
    return left == 0
