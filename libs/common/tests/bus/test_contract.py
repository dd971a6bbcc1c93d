"""The bus contract: both transports (in-process and a real Kafka broker) must pass it.

Per-key order within and across batches; a group shares partitions; a consumer killed before it
commits gets its batch again and the idempotent handler makes no second effect; a poison or
failing record goes to the group's dead-letter topic while the rest of its batch takes effect
once; an event committed to the outbox reaches consumers even if the process died before
publishing it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common.bus import (
    BatchHandler,
    Delivery,
    EventConsumer,
    Message,
    Record,
    TopicSpec,
    partition_for,
    record_for,
    subscribe,
)
from riskwatch.common.events import EventPayload, new_event
from riskwatch.common.events.base import event_type
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.events.topics import dlq_topic
from riskwatch.common.settings import ConsumerSettings
from riskwatch.common.testing import eventually

from ..conftest import Transport, effects, inbox, outbox

FAST = ConsumerSettings(max_attempts=3, backoff_initial_s=0.01, backoff_max_s=0.05)


@event_type("rw.test.sequenced.v1")
class Sequenced(EventPayload):
    key: str
    seq: int


def event(key: str, seq: int) -> Envelope[EventPayload]:
    return new_event(Sequenced(key=key, seq=seq), source="/test", subject=key)


def seq_of(envelope: Envelope[EventPayload]) -> Sequenced:
    assert isinstance(envelope.data, Sequenced)
    return envelope.data


async def group_member(
    transport: Transport,
    group: str,
    topic: str,
    handler: BatchHandler,
    settings: ConsumerSettings = FAST,
) -> EventConsumer:
    bus = await transport.bus()
    consumer = subscribe(bus, group=group, topics=[topic], handler=handler, settings=settings)
    await consumer.start()
    return consumer


async def dead_letters(transport: Transport, group: str, n: int) -> list[Message]:
    bus = await transport.bus()
    reader = bus.consumer_client(
        group=f"dlq-reader-{uuid.uuid4().hex[:6]}", topics=[dlq_topic(group)]
    )
    await reader.start()
    dead: list[Message] = []

    async def fetched() -> bool:
        batch = await reader.fetch(max_records=10, timeout_s=0.5)
        dead.extend(m for msgs in batch.values() for m in msgs)
        return len(dead) >= n

    await eventually(fetched, timeout=60)
    await reader.stop()
    return dead


async def count_effects(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with sessions() as session:
        rows = await session.execute(
            select(effects.c.event_id, func.count()).group_by(effects.c.event_id)
        )
        return {event_id: int(n) for event_id, n in rows}


async def test_records_of_one_key_arrive_in_order_within_and_across_batches(
    transport: Transport, topic: str
) -> None:
    bus = await transport.bus()
    await bus.ensure_topics([TopicSpec(topic, 3)])
    seen: dict[str, list[int]] = defaultdict(list)
    sizes: list[int] = []

    async def handle(batch: Sequence[Delivery]) -> None:
        sizes.append(len(batch))
        for d in batch:
            data = seq_of(d.envelope)
            seen[data.key].append(data.seq)

    keys = [f"device-{i}" for i in range(5)]
    # A backlog before the consumer starts (large batches), then a trickle (small ones).
    for seq in range(40):
        await bus.publish([record_for(topic, event(k, seq)) for k in keys])
    consumer = await group_member(
        transport,
        f"g-{uuid.uuid4().hex[:8]}",
        topic,
        handle,
        ConsumerSettings(batch_max_records=30),
    )
    for seq in range(40, 60):
        await bus.publish([record_for(topic, event(k, seq)) for k in keys])
    await eventually(lambda: _done(seen, keys, 60), timeout=60)
    await consumer.stop()
    for key in keys:
        assert seen[key] == list(range(60)), key
    assert max(sizes) > 1, "records should have been handed over in batches"
    assert max(sizes) <= 30, "a batch is bounded by batch_max_records"


async def _done(seen: dict[str, list[int]], keys: list[str], n: int) -> bool:
    return all(len(seen[k]) >= n for k in keys)


async def test_two_members_of_a_group_share_the_partitions(
    transport: Transport, topic: str
) -> None:
    bus = await transport.bus()
    await bus.ensure_topics([TopicSpec(topic, 4)])
    group = f"g-{uuid.uuid4().hex[:8]}"
    got: dict[str, list[tuple[str, int]]] = {"a": [], "b": []}

    def handler(name: str) -> BatchHandler:
        async def handle(batch: Sequence[Delivery]) -> None:
            for d in batch:
                data = seq_of(d.envelope)
                got[name].append((data.key, data.seq))

        return handle

    a = await group_member(transport, group, topic, handler("a"))
    b = await group_member(transport, group, topic, handler("b"))

    async def settled() -> bool:
        mine, theirs = a.assignment(), b.assignment()
        return bool(mine) and bool(theirs) and not (mine & theirs) and len(mine | theirs) == 4

    await eventually(settled, timeout=60)
    keys = [f"k{i}" for i in range(20)]
    await bus.publish([record_for(topic, event(k, s)) for s in range(5) for k in keys])
    await eventually(lambda: _count(got, 100), timeout=60)
    await a.stop()
    await b.stop()
    assert got["a"], "both members should have received records"
    assert got["b"], "both members should have received records"
    everything = got["a"] + got["b"]
    assert sorted(everything) == sorted((k, s) for s in range(5) for k in keys)
    # A key lives in one partition, so one member saw all of it.
    assert not {k for k, _ in got["a"]} & {k for k, _ in got["b"]}


async def _count(got: dict[str, list[tuple[str, int]]], n: int) -> bool:
    return sum(len(v) for v in got.values()) >= n


async def _apply(session: AsyncSession, envelope: Envelope[EventPayload]) -> None:
    await session.execute(effects.insert().values(event_id=envelope.id, note="sms sent"))


async def test_a_batch_crashing_midway_is_redelivered_without_a_second_effect(
    transport: Transport, topic: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    bus = await transport.bus()
    await bus.ensure_topics([TopicSpec(topic, 1)])
    group = f"g-{uuid.uuid4().hex[:8]}"
    sent = [event("dev-1", i) for i in range(50)]
    await bus.publish([record_for(topic, e) for e in sent])
    halfway = asyncio.Event()

    async def crashes_midway(session: AsyncSession, envelope: Envelope[EventPayload]) -> None:
        await _apply(session, envelope)
        if seq_of(envelope).seq == 25:
            halfway.set()
            await asyncio.Event().wait()  # the process "dies" here, mid-transaction

    first = await group_member(
        transport, group, topic, inbox.handler(sessions, group=group, handle=crashes_midway)
    )
    await asyncio.wait_for(halfway.wait(), 60)
    await first.abort()  # no database commit, no offset commit
    assert await count_effects(sessions) == {}

    batches: list[int] = []
    idempotent = inbox.handler(sessions, group=group, handle=_apply)

    async def healthy(batch: Sequence[Delivery]) -> None:
        batches.append(len(batch))
        await idempotent(batch)

    second = await group_member(transport, group, topic, healthy)
    await eventually(lambda: _counted(sessions, 50), timeout=60)
    await second.stop()
    assert await count_effects(sessions) == {e.id: 1 for e in sent}


async def _counted(sessions: async_sessionmaker[AsyncSession], n: int) -> bool:
    return sum((await count_effects(sessions)).values()) >= n


async def test_a_batch_committed_to_the_database_but_not_to_the_bus_has_no_second_effect(
    transport: Transport, topic: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    bus = await transport.bus()
    await bus.ensure_topics([TopicSpec(topic, 1)])
    group = f"g-{uuid.uuid4().hex[:8]}"
    sent = [event("dev-1", i) for i in range(20)]
    deliveries: list[str] = []
    idempotent = inbox.handler(sessions, group=group, handle=_apply)
    effect_done = asyncio.Event()

    async def crashes_before_offset_commit(batch: Sequence[Delivery]) -> None:
        deliveries.extend(d.envelope.id for d in batch)
        await idempotent(batch)
        effect_done.set()
        await asyncio.Event().wait()  # dies after the database commit, before the offsets

    async def healthy(batch: Sequence[Delivery]) -> None:
        deliveries.extend(d.envelope.id for d in batch)
        await idempotent(batch)

    first = await group_member(transport, group, topic, crashes_before_offset_commit)
    await bus.publish([record_for(topic, e) for e in sent])
    await asyncio.wait_for(effect_done.wait(), 60)
    await first.abort()
    delivered_first = len(deliveries)

    second = await group_member(transport, group, topic, healthy)
    await eventually(lambda: _at_least(deliveries, delivered_first + 1), timeout=60)
    await eventually(lambda: _counted(sessions, 20), timeout=60)
    await second.stop()
    # Everything of the first batch came twice and took effect once.
    assert deliveries.count(sent[0].id) == 2
    assert await count_effects(sessions) == {e.id: 1 for e in sent}


async def _at_least(items: list[str], n: int) -> bool:
    return len(items) >= n


async def test_one_poison_record_in_a_batch_of_500_goes_alone_to_the_dead_letter_topic(
    transport: Transport, topic: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    bus = await transport.bus()
    await bus.ensure_topics([TopicSpec(topic, 1)])
    group = f"g-{uuid.uuid4().hex[:8]}"
    sent = [event("dev", i) for i in range(500)]
    await bus.publish([record_for(topic, e) for e in sent])
    calls: list[int] = []

    async def apply(session: AsyncSession, envelope: Envelope[EventPayload]) -> None:
        await _apply(session, envelope)
        if seq_of(envelope).seq == 313:
            raise ValueError("this one always fails")

    idempotent = inbox.handler(sessions, group=group, handle=apply)

    async def handle(batch: Sequence[Delivery]) -> None:
        calls.append(len(batch))
        await idempotent(batch)

    consumer = await group_member(
        transport, group, topic, handle, ConsumerSettings(max_attempts=3, backoff_max_s=0.05)
    )
    [dead] = await dead_letters(transport, group, 1)
    await eventually(lambda: _counted(sessions, 499), timeout=60)
    await consumer.stop()
    assert calls[0] == 500, "all 500 were handed over as one batch"
    # Isolated by halves: a handful of transactions, not one per record.
    assert len(calls) < 40
    assert await count_effects(sessions) == {e.id: 1 for e in sent if seq_of(e).seq != 313}
    headers = dict(dead.headers)
    assert headers["rw_dlq_reason"].decode().startswith("ValueError: this one always fails")
    assert headers["rw_dlq_attempts"] == b"3"
    assert headers["ce_id"] == sent[313].id.encode()


async def test_poison_and_failing_records_go_to_the_dead_letter_topic(
    transport: Transport, topic: str
) -> None:
    bus = await transport.bus()
    await bus.ensure_topics([TopicSpec(topic, 1)])
    group = f"g-{uuid.uuid4().hex[:8]}"
    handled: list[int] = []

    async def handle(batch: Sequence[Delivery]) -> None:
        seqs = [seq_of(d.envelope).seq for d in batch]
        if 13 in seqs:
            raise ValueError("this one always fails")
        handled.extend(seqs)

    consumer = await group_member(transport, group, topic, handle)
    await bus.publish(
        [
            Record(topic=topic, key="dev", value=b"not json", headers=[("ce_type", b"x")]),
            record_for(topic, event("dev", 1)),
            record_for(topic, event("dev", 13)),
            record_for(topic, event("dev", 2)),
        ]
    )
    dead = await dead_letters(transport, group, 2)
    await eventually(lambda: _calls(handled, 2), timeout=60)  # type: ignore[arg-type]
    await consumer.stop()
    assert sorted(handled) == [1, 2]  # the consumer went on past both bad records
    reasons = [dict(m.headers)["rw_dlq_reason"].decode() for m in dead]
    assert "ce_specversion" in reasons[0]
    assert reasons[1].startswith("ValueError: this one always fails")
    assert dead[0].value == b"not json"
    assert dict(dead[1].headers)["rw_dlq_attempts"] == b"3"
    assert dict(dead[1].headers)["rw_dlq_topic"] == topic.encode()


async def _calls(calls: list[str], n: int) -> bool:
    return len(calls) >= n


async def test_a_transient_failure_retries_the_whole_batch_without_dead_letters(
    transport: Transport, topic: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    bus = await transport.bus()
    await bus.ensure_topics([TopicSpec(topic, 1)])
    group = f"g-{uuid.uuid4().hex[:8]}"
    sent = [event("dev", i) for i in range(30)]
    await bus.publish([record_for(topic, e) for e in sent])
    failures = 0
    sizes: list[int] = []
    idempotent = inbox.handler(sessions, group=group, handle=_apply)

    async def flaky(batch: Sequence[Delivery]) -> None:
        nonlocal failures
        sizes.append(len(batch))
        if failures < 6:  # more than max_attempts: a transient cause is never counted
            failures += 1
            raise ConnectionResetError("database went away")
        await idempotent(batch)

    consumer = await group_member(transport, group, topic, flaky)
    await eventually(lambda: _counted(sessions, 30), timeout=60)
    await consumer.stop()
    assert failures == 6
    assert await count_effects(sessions) == {e.id: 1 for e in sent}
    assert consumer.last_error is None
    # Retried whole: a transient failure is nobody's record, so the batch is never split.
    assert set(sizes) == {30}


async def test_an_event_committed_before_a_crash_is_still_published(
    transport: Transport, topic: str, sessions: async_sessionmaker[AsyncSession], contract_db: str
) -> None:
    bus = await transport.bus()
    await bus.ensure_topics([TopicSpec(topic, 1)])
    group = f"g-{uuid.uuid4().hex[:8]}"
    received: list[str] = []

    async def apply(session: AsyncSession, envelope: Envelope[EventPayload]) -> None:
        received.append(envelope.id)
        await session.execute(effects.insert().values(event_id=envelope.id, note="applied"))

    consumer = await group_member(
        transport, group, topic, inbox.handler(sessions, group=group, handle=apply)
    )
    staged = event("wo-1", 1)
    async with sessions() as session, session.begin():
        await outbox.add(session, topic, staged)
    # The process "dies" here: committed, never published. A new process starts its relay.
    relay = outbox.relay(sessions, bus, dsn=contract_db, poll_interval_s=0.05)
    await relay.start()
    await eventually(lambda: _calls(received, 1), timeout=60)

    async def settled() -> bool:
        async with sessions() as s:
            pending = await s.scalar(
                select(func.count())
                .select_from(outbox.table)
                .where(outbox.table.c.published_at.is_(None))
            )
        return pending == 0

    await eventually(settled, timeout=60)
    await relay.stop()
    await consumer.stop()
    assert received == [staged.id]


async def test_a_relay_that_dies_after_publishing_causes_no_second_effect(
    transport: Transport, topic: str, sessions: async_sessionmaker[AsyncSession], contract_db: str
) -> None:
    bus = await transport.bus()
    await bus.ensure_topics([TopicSpec(topic, 1)])
    group = f"g-{uuid.uuid4().hex[:8]}"
    deliveries: list[str] = []
    idempotent = inbox.handler(sessions, group=group, handle=_apply)

    async def handle(batch: Sequence[Delivery]) -> None:
        deliveries.extend(d.envelope.id for d in batch)
        await idempotent(batch)

    consumer = await group_member(transport, group, topic, handle)
    staged = event("wo-2", 1)
    async with sessions() as session, session.begin():
        await outbox.add(session, topic, staged)
        # What a relay does before it dies between publish and marking the row:
        await bus.publish([record_for(topic, staged)])
    relay = outbox.relay(sessions, bus, dsn=contract_db, poll_interval_s=0.05)
    await relay.start()
    await eventually(lambda: _calls(deliveries, 2), timeout=60)
    await relay.stop()
    await consumer.stop()
    assert deliveries == [staged.id, staged.id]
    assert await count_effects(sessions) == {staged.id: 1}


async def test_a_record_placed_on_a_partition_by_hand_meets_records_keyed_alike(
    transport: Transport, topic: str
) -> None:
    bus = await transport.bus()
    await bus.ensure_topics([TopicSpec(topic, 6)])
    assert await bus.partitions(topic) == 6
    keyed = await bus.publish([record_for(topic, event(f"dev-{i}", 0)) for i in range(30)])
    placed = await bus.publish(
        [
            Record(topic=topic, key=None, value=b"{}", partition=partition_for(f"dev-{i}", 6))
            for i in range(30)
        ]
    )
    assert [p.partition for p in placed] == [p.partition for p in keyed]
    assert len({p.partition for p in keyed}) > 1


async def test_stop_lets_the_batch_in_hand_finish_and_commit(
    transport: Transport, topic: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A graceful stop (SIGTERM) finishes and commits the batch being handled: nothing of it
    comes again to the next member of the group."""
    bus = await transport.bus()
    await bus.ensure_topics([TopicSpec(topic, 1)])
    group = f"g-{uuid.uuid4().hex[:8]}"
    sent = [event("dev", i) for i in range(10)]
    await bus.publish([record_for(topic, e) for e in sent])
    inside, release = asyncio.Event(), asyncio.Event()
    idempotent = inbox.handler(sessions, group=group, handle=_apply)

    async def slow(batch: Sequence[Delivery]) -> None:
        inside.set()
        await release.wait()
        await idempotent(batch)

    first = await group_member(transport, group, topic, slow)
    await asyncio.wait_for(inside.wait(), 60)
    stopping = asyncio.create_task(first.stop(timeout=30))
    await asyncio.sleep(0.2)
    assert not stopping.done()  # it waits for the batch in hand...
    release.set()
    await asyncio.wait_for(stopping, 60)  # ... which then commits
    assert await count_effects(sessions) == {e.id: 1 for e in sent}

    again: list[str] = []

    async def record(batch: Sequence[Delivery]) -> None:
        again.extend(d.envelope.id for d in batch)

    second = await group_member(transport, group, topic, record)
    await bus.publish([record_for(topic, event("dev", 99))])
    await eventually(lambda: _calls(again, 1), timeout=60)  # type: ignore[arg-type]
    await second.stop()
    assert len(again) == 1  # only the new record: the first batch's offsets were committed


async def test_two_relays_of_one_schema_publish_each_row_once(
    transport: Transport, topic: str, sessions: async_sessionmaker[AsyncSession], contract_db: str
) -> None:
    """One relay leads (an advisory lock); the other waits. Two publishing at once would send
    rows twice and could reorder a key's events."""
    bus = await transport.bus()
    await bus.ensure_topics([TopicSpec(topic, 1)])
    staged = [event("wo-9", i) for i in range(300)]
    async with sessions() as session, session.begin():
        for e in staged:
            await outbox.add(session, topic, e)
    relays = [outbox.relay(sessions, bus, dsn=contract_db, poll_interval_s=0.02) for _ in (1, 2)]
    await asyncio.gather(*(r.start() for r in relays))
    seen: list[Delivery] = []

    async def collect(batch: Sequence[Delivery]) -> None:
        seen.extend(batch)

    reader = await group_member(transport, f"g-{uuid.uuid4().hex[:8]}", topic, collect)
    await eventually(lambda: _calls(seen, 300), timeout=60)  # type: ignore[arg-type]
    await asyncio.sleep(0.5)  # time for a second, wrong, copy to arrive
    await reader.stop()
    await asyncio.gather(*(r.stop() for r in relays))
    assert sum(r.is_leader for r in relays) <= 1
    assert [d.envelope.id for d in seen] == [e.id for e in staged]  # once each, in order
