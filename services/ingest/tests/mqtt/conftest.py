"""Fixtures of the MQTT tests: a real Mosquitto on 127.0.0.1 and a free port (stopped after
each test), its files kept from a real PostgreSQL by the broker sync, and subscribers.

Without the binary the tests fail and say how to install it (scripts/fetch-mosquitto, which
`make test` runs): nothing is skipped.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common.bus import MemoryBus
from riskwatch.common.catalog import default_catalog
from riskwatch.ingest.devices.cache import DeviceCache
from riskwatch.ingest.devices.schemas import DevicePut
from riskwatch.ingest.devices.service import put_device
from riskwatch.ingest.mqtt.broker import INSTALL_HINT, BrokerFiles, ManagedBroker, find_mosquitto
from riskwatch.ingest.mqtt.components import service_hash
from riskwatch.ingest.mqtt.passwords import new_password
from riskwatch.ingest.mqtt.service import issue_credentials
from riskwatch.ingest.mqtt.settings import MqttSettings
from riskwatch.ingest.mqtt.subscriber import MessageOutcome, TelemetrySubscriber
from riskwatch.ingest.mqtt.sync import BrokerSync
from riskwatch.ingest.readings.admission import SectorBudgets
from riskwatch.ingest.readings.service import ReadingsPath

NOW = datetime(2026, 12, 21, 9, 0, tzinfo=UTC)
START = 20.0  # seconds a broker or a subscription may take to come up: a bound, not a measure


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def mosquitto() -> str:
    binary = find_mosquitto()
    if binary is None:
        # Nothing is skipped (the devstack plugin's rule): `make test` installs it.
        pytest.fail(f"These tests need Mosquitto: {INSTALL_HINT} (or `make mosquitto`)")
    return binary


class Broker:
    def __init__(self, process: ManagedBroker, sync: BrokerSync, service_password: str) -> None:
        self.process = process
        self.sync = sync
        self.service_password = service_password

    @property
    def port(self) -> int:
        return self.process.port

    def settings(self, **changes: object) -> MqttSettings:
        return MqttSettings.model_validate(
            {"host": "127.0.0.1", "port": self.port, "client_id": "ingest-test", **changes}
        )


@pytest.fixture
async def broker(
    mosquitto: str, tmp_path: Path, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[Broker]:
    process = ManagedBroker(mosquitto, tmp_path / "mqtt", host="127.0.0.1", port=free_port())
    password = new_password()

    async def reload() -> None:
        if process.alive:
            await process.reload()

    sync = BrokerSync(
        sessions=sessions,
        files=BrokerFiles(process.directory, service_username="_ingest"),
        service_hash=service_hash(password),
        reload=reload,
    )
    await sync.sync_once()
    await process.start(timeout_s=START)
    try:
        yield Broker(process, sync, password)
    finally:
        await process.stop()


async def register(sessions: async_sessionmaker[AsyncSession], prefix: str = "gas") -> str:
    """A new device in Lujiazui's gas scenario, with a unique id."""
    device_id = f"{prefix}-{uuid.uuid4().hex[:10]}"
    async with sessions.begin() as session:
        await put_device(
            session,
            catalog=default_catalog(),
            device_id=device_id,
            data=DevicePut(name=device_id, scenario_id="gas", town_id="lujiazui"),
        )
    return device_id


async def credentials(
    sessions: async_sessionmaker[AsyncSession], broker: Broker, device_id: str
) -> str:
    """Issue the device's password and bring the broker up to it (as the sync loop would)."""
    async with sessions.begin() as session:
        issued = await issue_credentials(session, device_id=device_id)
    await broker.sync.sync_once()
    return issued.password


class Taken:
    """What a subscriber handled, message by message, awaitable without sleeping."""

    def __init__(self) -> None:
        self.outcomes: list[MessageOutcome] = []
        self._changed = asyncio.Event()

    def record(self, outcomes: Sequence[MessageOutcome]) -> None:
        self.outcomes.extend(outcomes)
        self._changed.set()

    async def at_least(self, count: int, *, timeout: float = START) -> list[MessageOutcome]:
        while len(self.outcomes) < count:
            self._changed.clear()
            await asyncio.wait_for(self._changed.wait(), timeout)
        return self.outcomes


SubscriberFactory = Callable[..., AbstractAsyncContextManager[tuple[TelemetrySubscriber, Taken]]]


@pytest.fixture
def bus() -> MemoryBus:
    return MemoryBus()


@pytest.fixture
def subscriber(
    broker: Broker, sessions: async_sessionmaker[AsyncSession], bus: MemoryBus
) -> SubscriberFactory:
    @asynccontextmanager
    async def running(
        client_id: str = "ingest-test",
    ) -> AsyncIterator[tuple[TelemetrySubscriber, Taken]]:
        taken = Taken()
        component = TelemetrySubscriber(
            broker.settings(client_id=client_id),
            password=broker.service_password,
            path=ReadingsPath(
                sessions=sessions,
                bus=bus,
                devices=DeviceCache(max_entries=1000),
                budgets=SectorBudgets({}),
                serves=lambda _: True,
                future_tolerance=timedelta(minutes=5),
                publish_timeout_s=5.0,
                max_items=5000,
            ),
            clock=lambda: NOW,
            on_batch=taken.record,
        )
        await component.start()
        try:
            await asyncio.wait_for(component.subscribed.wait(), START)
            yield component, taken
        finally:
            await component.stop()

    return running
