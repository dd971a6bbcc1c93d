"""The Kafka transport (aiokafka): idempotent producer, group consumers that commit by hand."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka import TopicPartition as KafkaTopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from aiokafka.errors import CommitFailedError, IllegalStateError, TopicAlreadyExistsError

from riskwatch.common import metrics
from riskwatch.common.bus.base import Message, Position, Record, TopicPartition, TopicSpec
from riskwatch.common.settings import KafkaSettings

log = structlog.get_logger(__name__)


class KafkaBus:
    durable = True

    def __init__(self, settings: KafkaSettings, *, client_id: str | None = None) -> None:
        self._settings = settings
        self._client_id = client_id or settings.client_id
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self._settings.bootstrap_servers,
            client_id=self._client_id,
            # Idempotence implies acks=all; aiokafka's default would be acks=1.
            enable_idempotence=True,
            acks="all",
            linger_ms=self._settings.linger_ms,
            max_batch_size=self._settings.max_batch_size,
            request_timeout_ms=self._settings.request_timeout_ms,
        )
        await producer.start()
        self._producer = producer

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def ensure_topics(self, topics: Sequence[TopicSpec]) -> None:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self._settings.bootstrap_servers, client_id=self._client_id
        )
        await admin.start()
        try:
            existing = set(await admin.list_topics())
            wanted = {t.name: t for t in topics if t.name not in existing}
            if not wanted:
                return
            with contextlib.suppress(TopicAlreadyExistsError):  # another process was first
                await admin.create_topics(
                    [
                        NewTopic(
                            t.name,
                            t.partitions,
                            self._settings.replication_factor,
                            topic_configs={"cleanup.policy": "compact"} if t.compacted else None,
                        )
                        for t in wanted.values()
                    ]
                )
        finally:
            await admin.close()

    async def publish(self, records: Sequence[Record]) -> list[Position]:
        if self._producer is None:
            raise RuntimeError("KafkaBus.publish before start()")
        futures = [
            await self._producer.send(
                r.topic,
                r.value,
                key=r.key.encode() if r.key is not None else None,
                headers=r.headers,
                partition=r.partition,
            )
            for r in records
        ]
        results = await asyncio.gather(*futures)
        for r in records:
            metrics.EVENTS_PUBLISHED.labels(r.topic).inc()
        return [Position(m.topic, m.partition, m.offset) for m in results]

    async def partitions(self, topic: str) -> int:
        if self._producer is None:
            raise RuntimeError("KafkaBus.partitions before start()")
        # Served from the producer's metadata cache after the first call for a topic.
        return len(await self._producer.partitions_for(topic))

    async def check(self) -> None:
        """A metadata round trip to the cluster: it answers only if a broker is up."""
        if self._producer is None:
            raise RuntimeError("KafkaBus.check before start()")
        await self._producer.client.fetch_all_metadata()

    def consumer_client(self, *, group: str, topics: Sequence[str]) -> _KafkaClient:
        return _KafkaClient(
            self._settings, group=group, topics=tuple(topics), client_id=self._client_id
        )

    def is_consumed(self, position: Position) -> bool:
        return True  # acknowledged by the broker: durable, nothing more to wait for


class _KafkaClient:
    def __init__(
        self, settings: KafkaSettings, *, group: str, topics: tuple[str, ...], client_id: str
    ) -> None:
        self._settings = settings
        self.group = group
        self.topics = topics
        self._client_id = client_id
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            *self.topics,
            bootstrap_servers=self._settings.bootstrap_servers,
            client_id=self._client_id,
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            partition_assignment_strategy=(RoundRobinPartitionAssignor,),
        )
        await consumer.start()
        self._consumer = consumer

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def fetch(
        self, *, max_records: int, timeout_s: float
    ) -> Mapping[TopicPartition, Sequence[Message]]:
        if self._consumer is None:
            raise RuntimeError("fetch before start()")
        data = await self._consumer.getmany(
            timeout_ms=int(timeout_s * 1000), max_records=max_records
        )
        return {
            (tp.topic, tp.partition): [
                Message(
                    topic=r.topic,
                    partition=r.partition,
                    offset=r.offset,
                    key=r.key,
                    value=r.value,
                    headers=tuple(r.headers),
                    timestamp_ms=r.timestamp,
                )
                for r in records
            ]
            for tp, records in data.items()
            if records
        }

    def assignment(self) -> set[TopicPartition]:
        if self._consumer is None:
            return set()
        return {(tp.topic, tp.partition) for tp in self._consumer.assignment()}

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        if self._consumer is None:
            return
        try:
            await self._consumer.commit(
                {
                    KafkaTopicPartition(topic, partition): off
                    for (topic, partition), off in offsets.items()
                }
            )
        except (CommitFailedError, IllegalStateError) as exc:
            # The group rebalanced since the fetch; the new owner gets these records again.
            log.warning("commit_refused", group=self.group, error_type=type(exc).__name__)
