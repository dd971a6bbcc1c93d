"""Kafka inbound against a real Kafka broker and a real PostgreSQL: a sector system's CloudEvent
is stored and published like an HTTP batch; records that are no such event go to the
dead-letter topic with their reason and the next one is still taken; a bad reading is rejected
alone, on the rejections topic keyed by the event's source; a record delivered again (after a
crash between the database commit and the offset commit, or sent again) stores nothing twice
and publishes nothing twice."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import orjson
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common import dlq
from riskwatch.common.bus import Delivery, Record, subscribe
from riskwatch.common.bus.kafka import KafkaBus
from riskwatch.common.events import decode
from riskwatch.common.events.inbound import ReadingRejected
from riskwatch.common.events.readings import ReadingsAccepted
from riskwatch.common.events.topics import readings_topic
from riskwatch.common.settings import DatabaseSettings, KafkaSettings
from riskwatch.common.testing import app_client, eventually
from riskwatch.ingest.app import create_app
from riskwatch.ingest.inbound.consumer import InboundHandler, inbound_decoder
from riskwatch.ingest.inbound.domain import InboundChannel
from riskwatch.ingest.settings import IngestSettings

from .conftest import (
    CONSUMER_SETTINGS,
    SOURCE,
    WAIT,
    ConsumerFactory,
    Outcomes,
    binary_mode,
    cloud_event,
    outbox_drained,
    reading,
    readings_path,
    register,
    stored,
)


def structured(topic: str, event: dict[str, Any], key: str = SOURCE) -> Record:
    return Record(
        topic=topic,
        key=key,
        value=orjson.dumps(event),
        headers=[("content-type", b"application/cloudevents+json")],
    )


async def published(settings: KafkaSettings, device_id: str) -> list[tuple[str, float]]:
    """(metric, value) of every reading of `device_id` on construction's readings topic."""
    found = []
    for record in await dlq.read_topic(settings, readings_topic("construction")):
        event = decode(record.headers, record.value).data
        if isinstance(event, ReadingsAccepted):
            found += [
                (r.metric, r.value)
                for group in event.devices
                if group.device.device_id == device_id
                for r in group.readings
            ]
    return found


async def rejections(settings: KafkaSettings, topic: str) -> list[tuple[bytes | None, Any]]:
    return [
        (record.key, decode(record.headers, record.value).data)
        for record in await dlq.read_topic(settings, topic)
    ]


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_the_readings_of_a_cloud_event_are_stored_and_published(
    committed_db: str,
    kafka_settings: KafkaSettings,
    sessions: async_sessionmaker[AsyncSession],
    bus: KafkaBus,
) -> None:
    """Through the ingest app as deployed (its module's topics and consumers, RW_INBOUND__
    defaults): the sector's real topic and group."""
    device_id = await register(sessions)
    settings = IngestSettings(
        sectors=["construction"],
        database=DatabaseSettings(url=committed_db),
        kafka=kafka_settings,
    )
    channel = InboundChannel.of("construction")
    before = counter("rw_inbound_readings_accepted_total", sector="construction")
    async with app_client(create_app(settings), startup_timeout=WAIT):
        event = cloud_event([reading(device_id, s, float(s)) for s in (30, 20, 10)])
        await bus.publish([structured(channel.topic, event)])
        await eventually(lambda: _at_least(stored(sessions, device_id), 3), timeout=WAIT)
    assert sorted(await published(kafka_settings, device_id)) == [
        ("ch4_lel", 10.0),
        ("ch4_lel", 20.0),
        ("ch4_lel", 30.0),
    ]
    assert counter("rw_inbound_readings_accepted_total", sector="construction") - before == 3


async def test_records_that_are_no_readings_event_are_dead_lettered_and_the_next_is_taken(
    kafka_settings: KafkaSettings,
    sessions: async_sessionmaker[AsyncSession],
    bus: KafkaBus,
    channel: InboundChannel,
    consumer: ConsumerFactory,
) -> None:
    device_id = await register(sessions)
    garbage = Record(topic=channel.topic, key=SOURCE, value=b"\x00\x17 not json at all")
    not_an_event = structured(channel.topic, {"device_id": device_id, "value": 1.0})
    other_type = structured(channel.topic, cloud_event([1], type="com.example.weather.v1"))
    good = structured(channel.topic, cloud_event([reading(device_id, 20, 2.0)]))
    headers, value = binary_mode(cloud_event([reading(device_id, 10, 1.0)]))
    good_binary = Record(topic=channel.topic, key=SOURCE, value=value, headers=headers)
    async with consumer() as (_, outcomes):
        # One key: one partition, in this order.
        await bus.publish([garbage, not_an_event, other_type, good, good_binary])
        await eventually(lambda: _at_least(stored(sessions, device_id), 2), timeout=WAIT)
        assert outcomes.total("events") == 2
    letters = await dlq.read_dead_letters(kafka_settings, channel.group)
    assert [(letter.reason, letter.value) for letter in letters] == [
        ("the record is not JSON", garbage.value),
        ("not a CloudEvent: no specversion", not_an_event.value),
        (
            "type 'com.example.weather.v1' is not taken here; rw.readings.reported.v1 is",
            other_type.value,
        ),
    ]
    assert {(letter.original_topic, letter.key) for letter in letters} == {
        (channel.topic, SOURCE.encode())
    }
    assert sorted(await published(kafka_settings, device_id)) == [
        ("ch4_lel", 1.0),
        ("ch4_lel", 2.0),
    ]
    assert counter("rw_inbound_events_total", sector="construction", outcome="dead_lettered") >= 3


async def test_a_bad_reading_is_rejected_alone_on_the_rejections_topic_keyed_by_source(
    kafka_settings: KafkaSettings,
    sessions: async_sessionmaker[AsyncSession],
    bus: KafkaBus,
    channel: InboundChannel,
    consumer: ConsumerFactory,
    relay: None,
) -> None:
    device_id = await register(sessions)
    ghost = f"ghost-{device_id}"
    event = cloud_event(
        [reading(device_id, 30), reading(device_id, 20), reading(ghost, 15), reading(device_id, 10)]
    )
    labels = {"sector": "construction", "reason": "unknown_device"}
    before = counter("rw_inbound_readings_rejected_total", **labels)
    async with consumer():
        await bus.publish([structured(channel.topic, event)])
        await eventually(lambda: _at_least(stored(sessions, device_id), 3), timeout=WAIT)
    await eventually(lambda: outbox_drained(sessions, channel.rejections), timeout=WAIT)
    assert await stored(sessions, device_id) == 3
    assert len(await published(kafka_settings, device_id)) == 3
    assert await rejections(kafka_settings, channel.rejections) == [
        (
            SOURCE.encode(),
            ReadingRejected(
                ce_id=event["id"],
                source=SOURCE,
                index=2,
                device_id=ghost,
                reason="unknown_device",
                detail=f"device {ghost!r} is not registered",
            ),
        )
    ]
    assert counter("rw_inbound_readings_rejected_total", **labels) - before == 1


async def test_a_record_delivered_again_stores_and_publishes_nothing_twice(
    kafka_settings: KafkaSettings,
    sessions: async_sessionmaker[AsyncSession],
    bus: KafkaBus,
    channel: InboundChannel,
    consumer: ConsumerFactory,
    relay: None,
) -> None:
    """The consumer dies after the acceptance transaction committed and before the offset
    commit: its group's next member gets the record again. Then the sector system sends it
    again."""
    device_id = await register(sessions)
    event = cloud_event([reading(device_id, 30), reading(device_id, 20), reading("ghost", 10)])
    record = structured(channel.topic, event)
    first = Outcomes()
    handler = InboundHandler(
        channel, path=readings_path(sessions, bus), max_readings=5000, on_taken=first.record
    )

    async def then_hang(batch: Sequence[Delivery]) -> None:
        await handler(batch)
        await asyncio.Event().wait()  # the crash: the offsets are never committed

    crashing = subscribe(
        bus,
        group=channel.group,
        topics=[channel.topic],
        handler=then_hang,
        settings=CONSUMER_SETTINGS,
        decoder=inbound_decoder(channel.sector, max_items=5000),
    )
    await crashing.start()
    try:
        await bus.publish([record])
        await eventually(lambda: _at_least(stored(sessions, device_id), 2), timeout=WAIT)
    finally:
        await crashing.abort()
    assert first.total("events") == 1

    async with consumer() as (_, outcomes):
        await eventually(lambda: _holds(outcomes.total("repeated") == 1), timeout=WAIT)
        await bus.publish([record])  # sent again by the sector system
        await eventually(lambda: _holds(outcomes.total("repeated") == 2), timeout=WAIT)
        assert outcomes.total("events") == 0
    assert await stored(sessions, device_id) == 2
    assert len(await published(kafka_settings, device_id)) == 2
    await eventually(lambda: outbox_drained(sessions, channel.rejections), timeout=WAIT)
    assert [r.index for _, r in await rejections(kafka_settings, channel.rejections)] == [2]


async def _at_least(count: Any, n: int) -> bool:
    return bool(await count >= n)


async def _holds(value: bool) -> bool:
    return value
