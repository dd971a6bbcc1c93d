"""What the bus contract does not reach: a transport that fails to fetch or commit, a
dead-letter topic that refuses for a while, and an app whose bus is not up when it starts."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from fastapi import APIRouter

from riskwatch.common.app import Named, Runtime, build_app
from riskwatch.common.bus import Delivery, MemoryBus, Position, Record, TopicSpec, subscribe
from riskwatch.common.bus.base import Message, TopicPartition, record_for
from riskwatch.common.bus.memory import _MemoryClient
from riskwatch.common.events.topics import dlq_topic
from riskwatch.common.settings import ConsumerSettings, ServiceSettings
from riskwatch.common.testing import app_client, eventually

from .test_contract import event, seq_of

FAST = ConsumerSettings(max_attempts=1, backoff_initial_s=0.01, backoff_max_s=0.05)


class FlakyClient(_MemoryClient):
    """A consumer client whose first fetches and first commit fail as a broker outage would."""

    def __init__(self, bus: MemoryBus, group: str, topics: tuple[str, ...]) -> None:
        super().__init__(bus, group, topics)
        self.fetch_failures = 3
        self.commit_failures = 1

    async def fetch(
        self, *, max_records: int, timeout_s: float
    ) -> Mapping[TopicPartition, Sequence[Message]]:
        if self.fetch_failures:
            self.fetch_failures -= 1
            raise ConnectionResetError("broker went away")
        return await super().fetch(max_records=max_records, timeout_s=timeout_s)

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        if self.commit_failures:
            self.commit_failures -= 1
            raise ConnectionResetError("broker went away while committing")
        await super().commit(offsets)


class FlakyBus(MemoryBus):
    def __init__(self, *, publish_failures: int = 0, start_failures: int = 0) -> None:
        super().__init__(default_partitions=1)
        self.publish_failures = publish_failures
        self.start_failures = start_failures
        self.clients: list[FlakyClient] = []

    async def start(self) -> None:
        if self.start_failures:
            self.start_failures -= 1
            raise ConnectionRefusedError("no broker yet")

    async def publish(self, records: Sequence[Record]) -> list[Position]:
        if self.publish_failures and any(r.topic.startswith("rw.dlq.") for r in records):
            self.publish_failures -= 1
            raise ConnectionResetError("dead-letter topic not available")
        return await super().publish(records)

    def consumer_client(self, *, group: str, topics: Sequence[str]) -> FlakyClient:
        client = FlakyClient(self, group, tuple(topics))
        self.clients.append(client)
        return client


async def test_the_consumer_outlives_fetch_and_commit_failures() -> None:
    bus = FlakyBus()
    topic = f"t-{uuid.uuid4().hex[:6]}"
    seen: list[int] = []

    async def handle(batch: Sequence[Delivery]) -> None:
        seen.extend(seq_of(d.envelope).seq for d in batch)

    consumer = subscribe(bus, group="g", topics=[topic], handler=handle, settings=FAST)
    await consumer.start()
    await bus.publish([record_for(topic, event("k", i)) for i in range(5)])
    await eventually(lambda: _has(seen, 5), timeout=30)
    await bus.publish([record_for(topic, event("k", 5))])
    await eventually(lambda: _has(seen, 6), timeout=30)
    await consumer.stop()
    [client] = bus.clients
    assert (client.fetch_failures, client.commit_failures) == (0, 0)
    # The failed commit left the first batch uncommitted: it came again, which the inbox of a
    # real handler absorbs; nothing was skipped.
    assert sorted(set(seen)) == list(range(6))
    assert consumer.running is False


async def test_a_dead_letter_waits_for_its_topic_and_is_never_dropped() -> None:
    bus = FlakyBus(publish_failures=3)
    topic = f"t-{uuid.uuid4().hex[:6]}"

    async def always_fails(batch: Sequence[Delivery]) -> None:
        raise ValueError("cannot be handled")

    consumer = subscribe(bus, group="g", topics=[topic], handler=always_fails, settings=FAST)
    await consumer.start()
    await bus.publish([record_for(topic, event("k", 1))])

    async def dead_lettered() -> bool:
        return len(bus.records(dlq_topic("g"))) == 1

    await eventually(dead_lettered, timeout=60)
    await consumer.stop()
    assert bus.publish_failures == 0


class Nothing:
    name = "nothing"
    migrations_dir: Path | None = None

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings

    def routers(self) -> Sequence[APIRouter]:
        return []

    def topics(self, runtime: Runtime) -> Sequence[TopicSpec]:
        return [TopicSpec("t", 1)]

    async def components(self, runtime: Runtime) -> Sequence[Named]:
        return []


async def test_an_app_waits_for_a_bus_that_comes_up_after_it(contract_db: str) -> None:
    settings = ServiceSettings(bus="memory", database={"url": contract_db})
    bus = FlakyBus(start_failures=2)
    async with app_client(
        build_app(title="t", settings=settings, modules=[Nothing(settings)], bus=bus)
    ) as client:
        assert (await client.get("/readyz")).status_code == 200
    assert bus.start_failures == 0


async def _has(items: list[int], n: int) -> bool:
    return len(set(items)) >= n
