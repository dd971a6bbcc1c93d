"""Fixtures of libs/common's tests: both bus transports, and a database for effects."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from riskwatch.common.bus import Bus, MemoryBus
from riskwatch.common.bus.kafka import KafkaBus
from riskwatch.common.inbox import Inbox
from riskwatch.common.outbox import Outbox
from riskwatch.common.settings import KafkaSettings

# A tiny "service schema" for the contract tests: an effects table, the inbox and the outbox.
metadata = MetaData(schema="contract")
effects = Table(
    "effect",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False),
    Column("note", String(200), nullable=False),
)
inbox = Inbox(metadata)
outbox = Outbox(metadata)


@dataclass
class Transport:
    """Makes buses on one transport. On Kafka every call is a new client, as another process
    would have; in-process there is one bus per test, shared like a process's only bus."""

    name: str
    make: Callable[[], Bus]
    started: list[Bus] = field(default_factory=list)

    async def bus(self) -> Bus:
        bus = self.make()
        if bus not in self.started:
            await bus.start()
            self.started.append(bus)
        return bus


@pytest.fixture(params=["memory", "kafka"])
async def transport(request: pytest.FixtureRequest) -> AsyncIterator[Transport]:
    if request.param == "memory":
        shared = MemoryBus(default_partitions=3)
        t = Transport("memory", lambda: shared)
    else:
        bootstrap: str = request.getfixturevalue("kafka_bootstrap")
        t = Transport("kafka", lambda: KafkaBus(KafkaSettings(bootstrap_servers=bootstrap)))
    yield t
    for bus in t.started:
        await bus.stop()


@pytest.fixture
def topic() -> str:
    """A fresh topic per test, so runs on the shared broker never see each other's records."""
    return f"rw.test.{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
async def contract_db(make_database: Callable[[str], str]) -> str:
    url = make_database("contract")
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.exec_driver_sql("CREATE SCHEMA IF NOT EXISTS contract")
        await conn.run_sync(metadata.create_all)
    await engine.dispose()
    return url


@pytest.fixture
async def engine(contract_db: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(contract_db)
    async with engine.begin() as conn:
        for table in (effects, inbox.table, outbox.table):
            await conn.execute(table.delete())
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker:  # type: ignore[type-arg]
    return async_sessionmaker(engine, expire_on_commit=False)
