"""MQTT inbound against a real Mosquitto and a real PostgreSQL: a device's readings published
with its own credentials are stored and published like the HTTP path's; a wrong password, a
revoked one, or another device's topic is refused; bad readings are rejected one by one; the
replicas of a shared subscription split the messages; a message never acknowledged comes back."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import aiomqtt
import orjson
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common.bus import MemoryBus
from riskwatch.common.events import decode
from riskwatch.common.events.readings import ReadingsAccepted
from riskwatch.ingest.mqtt.domain import shared_filter, telemetry_topic
from riskwatch.ingest.mqtt.service import revoke_credentials
from riskwatch.ingest.readings.models import RawReading

from .conftest import NOW, START, Broker, SubscriberFactory, credentials, register


def reading(seconds: int, value: float = 1.0, metric: str = "ch4_lel") -> dict[str, Any]:
    return {"metric": metric, "value": value, "ts": (NOW - timedelta(seconds=seconds)).isoformat()}


def device_client(broker: Broker, device_id: str, password: str, **kw: Any) -> aiomqtt.Client:
    return aiomqtt.Client(
        "127.0.0.1", broker.port, username=device_id, password=password, identifier=device_id, **kw
    )


async def stored(sessions: async_sessionmaker[AsyncSession], device_id: str) -> list[RawReading]:
    async with sessions() as session:
        rows = await session.scalars(
            select(RawReading).where(RawReading.device_id == device_id).order_by(RawReading.ts)
        )
        return list(rows)


def counter(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_device_with_its_credentials_has_its_readings_stored_and_published(
    broker: Broker,
    sessions: async_sessionmaker[AsyncSession],
    subscriber: SubscriberFactory,
    bus: MemoryBus,
) -> None:
    device_id = await register(sessions)
    password = await credentials(sessions, broker, device_id)
    async with subscriber() as (_, taken), device_client(broker, device_id, password) as device:
        for seconds in (30, 20):  # one reading alone, then a list of them
            await device.publish(
                telemetry_topic(device_id), orjson.dumps(reading(seconds, 12.5)), qos=1
            )
        await device.publish(telemetry_topic(device_id), orjson.dumps([reading(10, 30.0)]), qos=1)
        outcomes = await taken.at_least(3)
    assert sum(o.accepted for o in outcomes) == 3
    assert [r.value for r in await stored(sessions, device_id)] == [12.5, 12.5, 30.0]
    events = [decode(r.headers, r.value).data for r in bus.records("rw.construction.readings")]
    published = [
        (group.device.device_id, reading_.value)
        for event in events
        if isinstance(event, ReadingsAccepted)
        for group in event.devices
        for reading_ in group.readings
    ]
    assert sorted(published) == [(device_id, 12.5), (device_id, 12.5), (device_id, 30.0)]


async def test_a_wrong_password_is_refused_at_connect(
    broker: Broker, sessions: async_sessionmaker[AsyncSession]
) -> None:
    device_id = await register(sessions)
    await credentials(sessions, broker, device_id)
    with pytest.raises(aiomqtt.MqttCodeError) as refused:
        async with device_client(broker, device_id, "not-its-password"):
            pass
    # Not authorised (MQTT 3.1.1's 5, which paho reports as 5.0's 135)
    assert getattr(refused.value.rc, "value", refused.value.rc) == 135
    with pytest.raises(aiomqtt.MqttCodeError):  # a device without credentials neither
        async with device_client(broker, await register(sessions), "anything"):
            pass


async def test_another_devices_topic_is_refused_and_nothing_is_stored_for_either(
    broker: Broker, sessions: async_sessionmaker[AsyncSession], subscriber: SubscriberFactory
) -> None:
    intruder = await register(sessions)
    victim = await register(sessions)
    password = await credentials(sessions, broker, intruder)
    await credentials(sessions, broker, victim)
    async with subscriber() as (_, taken), device_client(broker, intruder, password) as device:
        await device.publish(telemetry_topic(victim), orjson.dumps(reading(20)), qos=1)
        await device.publish(f"rw/v1/{victim}/other", orjson.dumps(reading(20)), qos=1)
        # Then one reading on its own topic: the broker keeps a publisher's order, so once this
        # one is handled, the refused ones would have arrived before it.
        await device.publish(telemetry_topic(intruder), orjson.dumps(reading(5, 0.0, "m")), qos=1)
        outcomes = await taken.at_least(1)
    assert [o.topic for o in outcomes] == [telemetry_topic(intruder)]
    assert await stored(sessions, victim) == []
    assert [r.metric for r in await stored(sessions, intruder)] == ["m"]


async def test_a_bad_reading_is_rejected_and_counted_and_the_others_are_stored(
    broker: Broker, sessions: async_sessionmaker[AsyncSession], subscriber: SubscriberFactory
) -> None:
    device_id = await register(sessions)
    password = await credentials(sessions, broker, device_id)
    invalid_before = counter("rw_mqtt_readings_rejected_total", reason="invalid_value")
    unparseable_before = counter("rw_mqtt_messages_total", outcome="unparseable")
    batch = [reading(30), {**reading(20), "value": "high"}, reading(10)]
    async with subscriber() as (_, taken), device_client(broker, device_id, password) as device:
        await device.publish(telemetry_topic(device_id), b"\xff not json", qos=1)
        await device.publish(telemetry_topic(device_id), orjson.dumps(batch), qos=1)
        await device.publish(
            telemetry_topic(device_id),
            orjson.dumps({**reading(5), "device_id": "someone-else"}),
            qos=1,
        )
        outcomes = await taken.at_least(3)
    garbage, mixed, impostor = outcomes
    assert garbage.unparseable == "not JSON"
    assert mixed.accepted == 2
    assert [(r.index, r.reason.value) for r in mixed.rejected] == [(1, "invalid_value")]
    assert [r.reason.value for r in impostor.rejected] == ["invalid_item"]
    assert len(await stored(sessions, device_id)) == 2
    assert counter("rw_mqtt_readings_rejected_total", reason="invalid_value") == invalid_before + 1
    assert counter("rw_mqtt_messages_total", outcome="unparseable") == unparseable_before + 1


async def test_revoked_credentials_are_refused_at_the_next_connect(
    broker: Broker, sessions: async_sessionmaker[AsyncSession]
) -> None:
    device_id = await register(sessions)
    password = await credentials(sessions, broker, device_id)
    async with device_client(broker, device_id, password):
        pass
    async with sessions.begin() as session:
        await revoke_credentials(session, device_id=device_id)
    assert await broker.sync.sync_once()
    with pytest.raises(aiomqtt.MqttCodeError):
        async with device_client(broker, device_id, password):
            pass
    # A new password works, and the old one stays refused.
    renewed = await credentials(sessions, broker, device_id)
    async with device_client(broker, device_id, renewed):
        pass
    with pytest.raises(aiomqtt.MqttCodeError):
        async with device_client(broker, device_id, password):
            pass


async def test_two_replicas_split_the_messages_none_lost_none_doubled(
    broker: Broker, sessions: async_sessionmaker[AsyncSession], subscriber: SubscriberFactory
) -> None:
    device_id = await register(sessions)
    password = await credentials(sessions, broker, device_id)
    count = 60
    async with (
        subscriber("ingest-a") as (_, first),
        subscriber("ingest-b") as (_, second),
        device_client(broker, device_id, password) as device,
    ):
        for i in range(count):
            await device.publish(telemetry_topic(device_id), orjson.dumps(reading(i + 1)), qos=1)

        async def all_handled() -> None:
            while len(first.outcomes) + len(second.outcomes) < count:
                await asyncio.wait(
                    [
                        asyncio.ensure_future(first.at_least(len(first.outcomes) + 1)),
                        asyncio.ensure_future(second.at_least(len(second.outcomes) + 1)),
                    ],
                    return_when=asyncio.FIRST_COMPLETED,
                )

        await asyncio.wait_for(all_handled(), START)
    handled = first.outcomes + second.outcomes
    assert len(handled) == count
    assert first.outcomes
    assert second.outcomes
    assert sum(o.accepted for o in handled) == count
    assert sum(o.duplicates for o in handled) == 0
    async with sessions() as session:
        rows = await session.scalar(
            select(func.count()).select_from(RawReading).where(RawReading.device_id == device_id)
        )
    assert rows == count


async def test_a_message_never_acknowledged_is_delivered_again_to_the_replica(
    broker: Broker, sessions: async_sessionmaker[AsyncSession], subscriber: SubscriberFactory
) -> None:
    """A replica that took a message and died before its PUBACK: the broker keeps the message
    in the replica's session and sends it again when the replica is back."""
    device_id = await register(sessions)
    password = await credentials(sessions, broker, device_id)
    crashing = aiomqtt.Client(
        "127.0.0.1",
        broker.port,
        username="_ingest",
        password=broker.service_password,
        identifier="ingest-crashing",
        clean_session=False,
    )
    crashing._client.manual_ack_set(True)
    async with crashing:
        await crashing.subscribe(shared_filter("ingest"), qos=1)
        async with device_client(broker, device_id, password) as device:
            await device.publish(telemetry_topic(device_id), orjson.dumps(reading(5)), qos=1)
        received = await asyncio.wait_for(anext(crashing.messages), START)
        assert received.topic.value == telemetry_topic(device_id)
    # Gone without acknowledging it; nothing was stored.
    assert await stored(sessions, device_id) == []
    async with subscriber("ingest-crashing") as (_, taken):
        [outcome] = await taken.at_least(1)
    assert outcome.accepted == 1
    assert len(await stored(sessions, device_id)) == 1
