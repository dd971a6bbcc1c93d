"""The in-process bus for embedded mode: Kafka's semantics (partitions, consumer groups,
committed offsets, redelivery after a crash or rebalance) in one asyncio event loop.

It is not durable: a record lives only in this process. The outbox therefore keeps its rows
until `is_consumed()` says every subscribed group has committed past them, and re-publishes
the rest after a restart.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from riskwatch.common import metrics
from riskwatch.common.bus.base import (
    Message,
    Position,
    Record,
    TopicPartition,
    TopicSpec,
    partition_for,
)

# Trim a partition's consumed prefix only when it is long enough to be worth the copy.
_TRIM_MIN = 1024


@dataclass(slots=True)
class _Partition:
    base: int = 0  # offset of records[0]
    records: list[Message] = field(default_factory=list)

    @property
    def end(self) -> int:
        return self.base + len(self.records)


@dataclass(slots=True)
class _Group:
    name: str
    topics: set[str] = field(default_factory=set)
    committed: dict[TopicPartition, int] = field(default_factory=dict)
    members: list[_MemoryClient] = field(default_factory=list)
    generation: int = 0


class MemoryBus:
    durable = False

    def __init__(self, *, default_partitions: int = 3) -> None:
        self._default_partitions = default_partitions
        self._topics: dict[str, list[_Partition]] = {}
        self._round_robin: dict[str, itertools.count[int]] = {}
        self._groups: dict[str, _Group] = {}
        self._wakeup = asyncio.Event()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        for group in self._groups.values():
            group.members.clear()

    async def ensure_topics(self, topics: Sequence[TopicSpec]) -> None:
        for spec in topics:
            self._topic(spec.name, spec.partitions)

    async def publish(self, records: Sequence[Record]) -> list[Position]:
        now_ms = int(time.time() * 1000)
        positions = []
        for record in records:
            partitions = self._topic(record.topic)
            if record.partition is not None:
                if not 0 <= record.partition < len(partitions):
                    raise ValueError(f"{record.topic} has no partition {record.partition}")
                index = record.partition
            elif record.key is None:
                index = next(self._round_robin[record.topic]) % len(partitions)
            else:
                index = partition_for(record.key, len(partitions))
            partition = partitions[index]
            offset = partition.end
            partition.records.append(
                Message(
                    topic=record.topic,
                    partition=index,
                    offset=offset,
                    key=record.key.encode() if record.key is not None else None,
                    value=record.value,
                    headers=tuple(record.headers),
                    timestamp_ms=now_ms,
                )
            )
            positions.append(Position(record.topic, index, offset))
            metrics.EVENTS_PUBLISHED.labels(record.topic).inc()
        self._notify()
        return positions

    async def partitions(self, topic: str) -> int:
        return len(self._topic(topic))

    async def check(self) -> None:
        return None  # lives in this process: up while the process is

    def consumer_client(self, *, group: str, topics: Sequence[str]) -> _MemoryClient:
        return _MemoryClient(self, group, tuple(topics))

    def is_consumed(self, position: Position) -> bool:
        tp = (position.topic, position.partition)
        return all(
            g.committed.get(tp, 0) > position.offset
            for g in self._groups.values()
            if position.topic in g.topics
        )

    def records(self, topic: str) -> list[Message]:
        """Every record still held for `topic` (for tests and the dead-letter viewer)."""
        return [m for p in self._topics.get(topic, []) for m in p.records]

    # -- internals -----------------------------------------------------------------------

    def _topic(self, name: str, partitions: int | None = None) -> list[_Partition]:
        existing = self._topics.get(name)
        if existing is None:
            existing = [_Partition() for _ in range(partitions or self._default_partitions)]
            self._topics[name] = existing
            self._round_robin[name] = itertools.count()
        return existing

    def _notify(self) -> None:
        event, self._wakeup = self._wakeup, asyncio.Event()
        event.set()

    def _join(self, client: _MemoryClient) -> None:
        group = self._groups.setdefault(client.group, _Group(client.group))
        group.topics.update(client.topics)
        group.members.append(client)
        self._rebalance(group)

    def _leave(self, client: _MemoryClient) -> None:
        group = self._groups.get(client.group)
        if group is not None and client in group.members:
            group.members.remove(client)
            self._rebalance(group)

    def _rebalance(self, group: _Group) -> None:
        # Eager rebalance, as Kafka's classic protocol: every member restarts from the
        # committed offsets, so uncommitted work is delivered again (handlers are idempotent).
        group.generation += 1
        for member in group.members:
            member.assigned = set()
            member.positions = {}
            member.generation = group.generation
        for topic in sorted(group.topics):
            eligible = [m for m in group.members if topic in m.topics]
            if not eligible:
                continue
            for index in range(len(self._topic(topic))):
                member = eligible[index % len(eligible)]
                tp = (topic, index)
                member.assigned.add(tp)
                member.positions[tp] = group.committed.get(tp, 0)
        self._notify()

    def _commit(self, client: _MemoryClient, offsets: Mapping[TopicPartition, int]) -> None:
        group = self._groups[client.group]
        if client.generation != group.generation:
            return  # a rebalance happened since this batch was fetched: Kafka would refuse too
        for tp, offset in offsets.items():
            if tp in client.assigned:
                group.committed[tp] = max(group.committed.get(tp, 0), offset)
        for topic in {tp[0] for tp in offsets}:
            self._trim(topic)

    def _trim(self, topic: str) -> None:
        groups = [g for g in self._groups.values() if topic in g.topics]
        if not groups:
            return
        for index, partition in enumerate(self._topics.get(topic, [])):
            low = min(g.committed.get((topic, index), 0) for g in groups)
            drop = low - partition.base
            if drop >= _TRIM_MIN:
                del partition.records[:drop]
                partition.base = low


class _MemoryClient:
    def __init__(self, bus: MemoryBus, group: str, topics: tuple[str, ...]) -> None:
        self._bus = bus
        self.group = group
        self.topics = topics
        self.assigned: set[TopicPartition] = set()
        self.positions: dict[TopicPartition, int] = {}
        self.generation = 0
        self._turn = 0

    async def start(self) -> None:
        self._bus._join(self)

    async def stop(self) -> None:
        self._bus._leave(self)

    async def fetch(
        self, *, max_records: int, timeout_s: float
    ) -> Mapping[TopicPartition, Sequence[Message]]:
        deadline = time.monotonic() + timeout_s
        while True:
            wakeup = self._bus._wakeup  # taken before looking, so no append can be missed
            batch: dict[TopicPartition, list[Message]] = {}
            budget = max_records
            order = sorted(self.assigned)
            if order:  # rotate the starting partition so a busy one cannot starve the rest
                self._turn = (self._turn + 1) % len(order)
                order = order[self._turn :] + order[: self._turn]
            for tp in order:
                partition = self._bus._topic(tp[0])[tp[1]]
                position = max(self.positions.get(tp, 0), partition.base)
                start = position - partition.base
                taken = partition.records[start : start + budget]
                if taken:
                    batch[tp] = taken
                    self.positions[tp] = position + len(taken)
                    budget -= len(taken)
                    if budget <= 0:
                        break
            if batch:
                return batch
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return {}
            try:
                await asyncio.wait_for(wakeup.wait(), remaining)
            except TimeoutError:
                return {}

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        self._bus._commit(self, offsets)

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)
