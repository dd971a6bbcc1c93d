"""Dead letters on Kafka: list what a consumer group gave up on, and replay it after a fix.

A dead-letter record (`rw.dlq.<group>`) is the original record, key, value and headers, plus
`rw_dlq_*` headers: the reason, the group, the original topic, partition and offset, and the
attempts. Listing reads the topic from the beginning without joining a group (nothing is
consumed or committed). Replaying publishes each chosen record again, without the `rw_dlq_*`
headers, to its original topic and partition, so per-key order placement holds; the group's
inbox makes a replay idempotent: an event already applied is skipped, so replaying twice, or
replaying a record that was fixed and redelivered meanwhile, has no second effect.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from aiokafka import TopicPartition as KafkaTopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from riskwatch.common.bus.base import Record
from riskwatch.common.bus.kafka import KafkaBus
from riskwatch.common.events.topics import dlq_topic
from riskwatch.common.settings import KafkaSettings

DLQ_PREFIX = "rw.dlq."


@dataclass(frozen=True, slots=True)
class DeadLetter:
    topic: str  # the dead-letter topic
    partition: int
    offset: int
    group: str
    reason: str
    attempts: int
    original_topic: str
    original_partition: int | None
    original_offset: int | None
    event_type: str | None
    event_id: str | None
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    def record(self) -> Record:
        """The original record, ready to publish again."""
        return Record(
            topic=self.original_topic,
            key=self.key.decode(errors="replace") if self.key is not None else None,
            value=self.value or b"",
            headers=[h for h in self.headers if not h[0].startswith("rw_dlq_")],
            partition=self.original_partition,
        )


def _text(headers: dict[str, bytes], name: str) -> str | None:
    raw = headers.get(name)
    return raw.decode(errors="replace") if raw is not None else None


def _int(headers: dict[str, bytes], name: str) -> int | None:
    raw = _text(headers, name)
    return int(raw) if raw is not None and raw.lstrip("-").isdigit() else None


async def dead_letter_topics(settings: KafkaSettings) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        return sorted(t for t in await admin.list_topics() if t.startswith(DLQ_PREFIX))
    finally:
        await admin.close()


async def read_dead_letters(settings: KafkaSettings, group: str) -> list[DeadLetter]:
    """Every record of `rw.dlq.<group>`, oldest first, read without a consumer group."""
    topic = dlq_topic(group)
    if topic not in await dead_letter_topics(settings):
        return []
    letters: list[DeadLetter] = []
    for r in await read_topic(settings, topic):
        headers = dict(r.headers)
        letters.append(
            DeadLetter(
                topic=r.topic,
                partition=r.partition,
                offset=r.offset,
                group=_text(headers, "rw_dlq_group") or group,
                reason=_text(headers, "rw_dlq_reason") or "",
                attempts=_int(headers, "rw_dlq_attempts") or 0,
                original_topic=_text(headers, "rw_dlq_topic") or "",
                original_partition=_int(headers, "rw_dlq_partition"),
                original_offset=_int(headers, "rw_dlq_offset"),
                event_type=_text(headers, "ce_type"),
                event_id=_text(headers, "ce_id"),
                key=r.key,
                value=r.value,
                headers=tuple(r.headers),
            )
        )
    return sorted(letters, key=lambda d: (d.partition, d.offset))


async def read_topic(
    settings: KafkaSettings, topic: str
) -> list[ConsumerRecord[bytes | None, bytes | None]]:
    """Every record of an existing `topic` up to now, partition by partition, read from the
    start without a consumer group (nothing is consumed or committed)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    tps = [
        KafkaTopicPartition(topic, p["partition"])
        for p in sorted(described["partitions"], key=lambda p: p["partition"])
    ]
    if not tps:
        return []
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        found: list[ConsumerRecord[bytes | None, bytes | None]] = []
        while await _behind(consumer, tps, ends):
            batch = await consumer.getmany(*tps, timeout_ms=1000)
            for records in batch.values():
                found.extend(records)
        return found
    finally:
        await consumer.stop()


async def _behind(
    consumer: AIOKafkaConsumer,
    tps: list[KafkaTopicPartition],
    ends: dict[KafkaTopicPartition, int],
) -> bool:
    for tp in tps:
        if await consumer.position(tp) < ends[tp]:
            return True
    return False


async def replay(settings: KafkaSettings, letters: Sequence[DeadLetter]) -> int:
    """Publish `letters` again to where they came from; how many were published."""
    playable = [d for d in letters if d.original_topic]
    if not playable:
        return 0
    bus = KafkaBus(settings, client_id="rw-dlq-replay")
    await bus.start()
    try:
        await bus.publish([d.record() for d in playable])
    finally:
        await bus.stop()
    return len(playable)
