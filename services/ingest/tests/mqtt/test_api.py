"""The credentials routes and the embedded mode's own broker, through the whole app: a device
registered and given credentials over HTTP publishes over MQTT, and its readings are stored and
published; a caller outside the device's scope cannot see its credentials; a revoked device is
refused. This is how module.py registers the router and the components (see ADR 0020)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt
import httpx
import orjson
import pytest
from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common.app import Named, Runtime, build_app
from riskwatch.common.bus import MemoryBus
from riskwatch.common.testing import app_client, bearer, eventually, grant
from riskwatch.ingest.module import IngestModule
from riskwatch.ingest.mqtt.components import ManagedMqtt, mqtt_components
from riskwatch.ingest.mqtt.models import DeviceCredential
from riskwatch.ingest.mqtt.passwords import verify_password
from riskwatch.ingest.mqtt.router import router as mqtt_router
from riskwatch.ingest.mqtt.settings import MqttSettings
from riskwatch.ingest.mqtt.subscriber import TelemetrySubscriber
from riskwatch.ingest.readings.models import RawReading
from riskwatch.ingest.settings import IngestSettings

from .conftest import START, free_port


class WithMqtt(IngestModule):
    """IngestModule as module.py will have it once MQTT is registered."""

    mqtt: MqttSettings

    def routers(self) -> Sequence[APIRouter]:
        return [*super().routers(), mqtt_router]

    async def components(self, runtime: Runtime) -> Sequence[Named]:
        return [
            *await super().components(runtime),
            *mqtt_components(runtime, self.settings, self.mqtt),
        ]


@pytest.fixture
async def app_and_client(
    committed_db: str, mosquitto: str, tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, IngestSettings, MqttSettings, MemoryBus, object]]:
    settings = IngestSettings.model_validate({"bus": "memory", "database": {"url": committed_db}})
    mqtt = MqttSettings(
        managed_broker=True, port=free_port(), broker_dir=tmp_path / "mqtt", client_id="ingest-api"
    )
    module = WithMqtt(settings)
    module.mqtt = mqtt
    bus = MemoryBus()
    app = build_app(title="ingest with MQTT", settings=settings, modules=[module], bus=bus)
    async with app_client(app) as client:
        await grant(app)
        yield client, settings, mqtt, bus, app


async def test_credentials_over_http_then_readings_over_mqtt(
    app_and_client: tuple[httpx.AsyncClient, IngestSettings, MqttSettings, MemoryBus, object],
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    client, settings, mqtt, bus, app = app_and_client
    headers = bearer(settings.auth)
    device_id = "gas-api-" + datetime.now(UTC).strftime("%H%M%S%f")
    put = await client.put(
        f"/api/v1/devices/{device_id}",
        json={"name": "valve", "scenario_id": "gas", "town_id": "lujiazui"},
        headers=headers,
    )
    assert put.status_code in (200, 201), put.text
    missing = await client.put("/api/v1/devices/nobody/mqtt-credentials", headers=headers)
    assert missing.status_code == 404
    other_town = bearer(settings.auth, "zj", scope="town:zhangjiang")
    await grant(app, "zj", scope="town:zhangjiang")  # type: ignore[arg-type]
    hidden = await client.put(f"/api/v1/devices/{device_id}/mqtt-credentials", headers=other_town)
    assert hidden.status_code == 404
    issued = await client.put(f"/api/v1/devices/{device_id}/mqtt-credentials", headers=headers)
    assert issued.status_code == 200, issued.text
    body = issued.json()
    assert (body["username"], body["topic"]) == (device_id, f"rw/v1/{device_id}/telemetry")
    async with sessions() as session:
        kept = await session.get(DeviceCredential, device_id)
    assert kept is not None
    assert verify_password(body["password"], kept.password_hash)
    assert body["password"] not in kept.password_hash

    components = {n.name: n.component for n in app.state.components}  # type: ignore[attr-defined]
    managed = components["mqtt-broker"]
    subscriber = components["mqtt-subscriber"]
    assert isinstance(managed, ManagedMqtt)
    assert isinstance(subscriber, TelemetrySubscriber)
    await managed.sync.sync_once()  # what its loop does within RW_MQTT__SYNC_INTERVAL_S
    await asyncio.wait_for(subscriber.subscribed.wait(), START)
    now = datetime.now(UTC)
    async with aiomqtt.Client(
        "127.0.0.1", mqtt.port, username=device_id, password=body["password"]
    ) as device:
        await device.publish(
            body["topic"],
            orjson.dumps(
                [
                    {
                        "metric": "ch4_lel",
                        "value": v,
                        "ts": (now - timedelta(seconds=s)).isoformat(),
                    }
                    for v, s in ((10.0, 3), (20.0, 2), (60.0, 1))
                ]
            ),
            qos=1,
        )

    async def readings() -> list[float]:
        async with sessions() as session:
            rows = await session.scalars(
                select(RawReading.value).where(RawReading.device_id == device_id)
            )
            return list(rows)

    assert sorted(await eventually(readings, timeout=START)) == [10.0, 20.0, 60.0]
    assert bus.records("rw.construction.readings")

    revoked = await client.delete(f"/api/v1/devices/{device_id}/mqtt-credentials", headers=headers)
    assert revoked.status_code == 204
    again = await client.delete(f"/api/v1/devices/{device_id}/mqtt-credentials", headers=headers)
    assert again.status_code == 404
    await managed.sync.sync_once()
    with pytest.raises(aiomqtt.MqttCodeError):
        async with aiomqtt.Client(
            "127.0.0.1", mqtt.port, username=device_id, password=body["password"]
        ):
            pass
