"""The bus contract: both transports (in-process and a real Kafka broker) must pass it.

Per-key order; a group shares partitions; a consumer killed before it commits gets its
records delivered again and the idempotent handler makes no second effect; a poison record
goes to the group's dead-letter topic and the consumer goes on; an event committed to the
outbox reaches consumers even if the process died before publishing it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common.bus import EventConsumer, Message, Record, TopicSpec, record_for, subscribe
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


async def group_member(
    transport: Transport, group: str, topic: str, handler: object, **kw: object
) -> EventConsumer:
    bus = await transport.bus()
    consumer = subscribe(
        bus,
        group=group,
        topics=[topic],
        handler=handler,  # type: ignore[arg-type]
        settings=kw.get("settings", FAST),
    )  # type: ignore[arg-type]
    await consumer.start()
    return consumer


async def test_records_of_one_key_arrive_in_order(transport: Transport, topic: str) -> None:
    bus = await transport.bus()
    await bus.ensure_topics([TopicSpec(topic, 3)])
    seen: dict[str, list[int]] = defaultdict(list)

    async def handle(envelope: Envelope[EventPayload], message: Message) -> None:
        assert isinstance(envelope.data, Sequenced)
        seen[envelope.data.key].append(envelope.data.seq)

    consumer = await group_member(transport, f"g-{uuid.uuid4().hex[:8]}", topic, handle)
    keys = [f"device-{i}" for i in range(5)]
    for seq in range(40):  # interleaved keys, several publishes
        await bus.publish([record_for(topic, event(k, seq)) for k in keys])
    await eventually(lambda: _done(seen, keys, 40), timeout=60)
    await consumer.stop()
    for key in keys:
        assert seen[key] == list(range(40)), key


async def _done(seen: dict[str, list[int]], keys: list[str], n: int) -> bool:
    return all(len(seen[k]) >= n for k in keys)


async def test_two_members_of_a_group_share_the_partitions(
    transport: Transport, topic: str
) -> None:
    bus = await transport.bus()
    await bus.ensure_topics([TopicSpec(topic, 4)])
    group = f"g-{uuid.uuid4().hex[:8]}"
    got: dict[str, list[tuple[str, int]]] = {"a": [], "b": []}

    def handler(name: str) -> object:
        async def handle(envelope: Envelope[EventPayload], message: Message) -> None:
            assert isinstance(envelope.data, Sequenced)
            got[name].append((envelope.data.key, envelope.data.seq))

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


async def test_a_consumer_killed_before_commit_gets_it_again_without_a_second_effect(
    transport: Transport, topic: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    bus = await transport.bus()
    await bus.ensure_topics([TopicSpec(topic, 1)])
    group = f"g-{uuid.uuid4().hex[:8]}"
    calls: list[str] = []
    effect_done = asyncio.Event()

    async def apply(session: AsyncSession, envelope: Envelope[EventPayload]) -> None:
        await session.execute(effects.insert().values(event_id=envelope.id, note="sms sent"))

    idempotent = inbox.handler(sessions, group=group, handle=apply)

    async def crashes_before_commit(envelope: Envelope[EventPayload], message: Message) -> None:
        calls.append(envelope.id)
        await idempotent(envelope, message)
        effect_done.set()
        await asyncio.Event().wait()  # never returns: the process "dies" here

    async def healthy(envelope: Envelope[EventPayload], message: Message) -> None:
        calls.append(envelope.id)
        await idempotent(envelope, message)

    first = await group_member(transport, group, topic, crashes_before_commit)
    sent = event("dev-1", 1)
    await bus.publish([record_for(topic, sent)])
    await asyncio.wait_for(effect_done.wait(), 60)
    await first.abort()  # no offset commit

    second = await group_member(transport, group, topic, healthy)
    await eventually(lambda: _calls(calls, 2), timeout=60)
    await second.stop()
    assert calls == [sent.id, sent.id]  # delivered twice ...
    async with sessions() as session:
        n = await session.scalar(select(func.count()).select_from(effects))
    assert n == 1  # ... applied once


async def _calls(calls: list[str], n: int) -> bool:
    return len(calls) >= n


async def test_poison_and_failing_records_go_to_the_dead_letter_topic(
    transport: Transport, topic: str
) -> None:
    bus = await transport.bus()
    await bus.ensure_topics([TopicSpec(topic, 1)])
    group = f"g-{uuid.uuid4().hex[:8]}"
    handled: list[int] = []

    async def handle(envelope: Envelope[EventPayload], message: Message) -> None:
        assert isinstance(envelope.data, Sequenced)
        if envelope.data.seq == 13:
            raise ValueError("this one always fails")
        handled.append(envelope.data.seq)

    consumer = await group_member(transport, group, topic, handle)
    await bus.publish(
        [
            Record(topic=topic, key="dev", value=b"not json", headers=[("ce_type", b"x")]),
            record_for(topic, event("dev", 1)),
            record_for(topic, event("dev", 13)),
            record_for(topic, event("dev", 2)),
        ]
    )
    await eventually(lambda: _calls(handled, 2), timeout=60)  # type: ignore[arg-type]
    assert handled == [1, 2]  # the consumer went on past both bad records

    reader = bus.consumer_client(
        group=f"dlq-reader-{uuid.uuid4().hex[:6]}", topics=[dlq_topic(group)]
    )
    await reader.start()
    dead: list[Message] = []

    async def fetched() -> bool:
        batch = await reader.fetch(max_records=10, timeout_s=0.5)
        dead.extend(m for msgs in batch.values() for m in msgs)
        return len(dead) >= 2

    await eventually(fetched, timeout=60)
    await reader.stop()
    await consumer.stop()
    reasons = [dict(m.headers)["rw_dlq_reason"].decode() for m in dead]
    assert "ce_specversion" in reasons[0]
    assert reasons[1].startswith("ValueError: this one always fails")
    assert dead[0].value == b"not json"
    assert dict(dead[1].headers)["rw_dlq_attempts"] == b"3"
    assert dict(dead[1].headers)["rw_dlq_topic"] == topic.encode()


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
    await eventually(lambda: _calls(received, 1), timeout=60)  # type: ignore[arg-type]

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

    async def apply(session: AsyncSession, envelope: Envelope[EventPayload]) -> None:
        await session.execute(effects.insert().values(event_id=envelope.id, note="applied"))

    idempotent = inbox.handler(sessions, group=group, handle=apply)

    async def handle(envelope: Envelope[EventPayload], message: Message) -> None:
        deliveries.append(envelope.id)
        await idempotent(envelope, message)

    consumer = await group_member(transport, group, topic, handle)
    staged = event("wo-2", 1)
    async with sessions() as session, session.begin():
        await outbox.add(session, topic, staged)
        # What a relay does before it dies between publish and marking the row:
        await bus.publish([record_for(topic, staged)])
    relay = outbox.relay(sessions, bus, dsn=contract_db, poll_interval_s=0.05)
    await relay.start()
    await eventually(lambda: _calls(deliveries, 2), timeout=60)  # type: ignore[arg-type]
    await relay.stop()
    await consumer.stop()
    assert deliveries == [staged.id, staged.id]
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(effects)) == 1
