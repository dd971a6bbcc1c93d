"""The bus interface every service codes against; Kafka and the in-process bus implement it.

A transport supplies two things: a producer (`publish`) and group consumers (`ConsumerClient`).
Everything above that — decoding, retries, dead letters, commit-after-processing — lives once,
in `riskwatch.common.bus.consumer`, so both transports behave the same way.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from aiokafka.partitioner import murmur2

from riskwatch.common.events.base import EventPayload
from riskwatch.common.events.envelope import Envelope, encode

HeaderList = list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class Record:
    """A record to publish. `key` decides the partition, hence the order consumers see, unless
    the producer chose the partition itself (`partition`, computed with `partition_for`)."""

    topic: str
    key: str | None
    value: bytes
    headers: HeaderList = field(default_factory=list)
    partition: int | None = None


@functools.lru_cache(maxsize=1 << 17)
def partition_for(key: str | bytes, partitions: int) -> int:
    """The partition of `key`: Kafka's default partitioner (murmur2), which every transport
    uses, so a record keyed by a device and a record placed by hand for it meet in one place.
    Remembered for the last 131,072 keys: aiokafka's murmur2 is pure Python."""
    raw = key.encode() if isinstance(key, str) else key
    return (int(murmur2(raw)) & 0x7FFFFFFF) % partitions


@dataclass(frozen=True, slots=True)
class Position:
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class Message:
    """A consumed record, transport-neutral."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    # Kafka keeps the latest record of every key instead of deleting by age (a topic of
    # snapshots, such as accounts, that a new consumer group must read in full).
    compacted: bool = False


TopicPartition = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Delivery:
    """A consumed record that decoded into an event."""

    envelope: Envelope[EventPayload]
    message: Message


# A handler takes what one fetch returned for one partition, in offset order, and applies it
# as one unit of work; the runner commits the offsets only after it returns.
BatchHandler = Callable[[Sequence[Delivery]], Awaitable[None]]


def record_for(topic: str, envelope: Envelope[EventPayload], *, key: str | None = None) -> Record:
    """Encode an event for `topic`; the key defaults to the event's subject."""
    headers, value = encode(envelope)
    return Record(
        topic=topic, key=key if key is not None else envelope.subject, value=value, headers=headers
    )


class ConsumerClient(Protocol):
    """One member of a consumer group on one transport."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def fetch(
        self, *, max_records: int, timeout_s: float
    ) -> Mapping[TopicPartition, Sequence[Message]]: ...
    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None: ...
    def assignment(self) -> set[TopicPartition]: ...


class Bus(Protocol):
    # A durable bus keeps a published record across a crash of this process (Kafka); the
    # in-process bus does not, so the outbox keeps rows until every group has consumed them.
    durable: bool

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def ensure_topics(self, topics: Sequence[TopicSpec]) -> None: ...
    async def publish(self, records: Sequence[Record]) -> list[Position]: ...
    async def partitions(self, topic: str) -> int: ...
    async def check(self) -> None:
        """Raise if the bus cannot take records now (readiness)."""
        ...

    def consumer_client(self, *, group: str, topics: Sequence[str]) -> ConsumerClient: ...
    def is_consumed(self, position: Position) -> bool: ...
