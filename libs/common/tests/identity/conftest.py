"""Fixtures of the issuer's tests: a migrated identity schema on the session's real PostgreSQL,
and an app hosting the identity module alone, with a clock the tests move."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from riskwatch.common.access import DISTRICT, Scope
from riskwatch.common.app import build_app
from riskwatch.common.bus import MemoryBus
from riskwatch.common.events.audit import AuditRecorded
from riskwatch.common.events.topics import AUDIT
from riskwatch.common.identity.models import outbox
from riskwatch.common.identity.module import MIGRATIONS, IdentityModule
from riskwatch.common.settings import AuthSettings, DatabaseSettings, ServiceSettings
from riskwatch.common.testing import TokenClaims, bearer, engine_for, migrate

ADMIN_PASSWORD = "Seed-Root-Passw0rd!"


@dataclass
class Clock:
    """The issuer's now: real time at the start, moved forward by the tests."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture(scope="session")
async def identity_db(make_database: Callable[[str], str]) -> str:
    url = make_database("identity")
    await migrate(url, [MIGRATIONS])
    return url


@pytest.fixture
async def engine(identity_db: str) -> AsyncIterator[AsyncEngine]:
    engine = engine_for(identity_db)
    yield engine
    await engine.dispose()


def settings_for(url: str) -> ServiceSettings:
    return ServiceSettings(
        env="test",
        bus="memory",
        database=DatabaseSettings(url=url),
        auth=AuthSettings(builtin_issuer=True),
        admin_password=SecretStr(ADMIN_PASSWORD),
        outbox_poll_interval_s=0.05,
    )


def identity_app(url: str, clock: Clock) -> FastAPI:
    settings = settings_for(url)
    return build_app(
        title="identity",
        settings=settings,
        modules=[IdentityModule(settings, clock=clock, announce=False)],
        bus=MemoryBus(),
        # The issuer alone keeps no projection of accounts (ADR 0015; ingest and the embedded
        # platform host it beside theirs): the tokens' claims stand, as `headers` mints them.
        accounts=TokenClaims(),
    )


def new_address() -> str:
    """A client address of this test alone: lockouts by address must not cross tests."""
    return f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass
class Issuer:
    """The running app: clients from chosen addresses, tokens, the audit records staged."""

    app: Any  # the ASGI app, with its lifespan running
    clock: Clock
    engine: AsyncEngine
    settings: ServiceSettings
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    async def client(self, address: str | None = None) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.app, client=(address or new_address(), 40000))
        client = httpx.AsyncClient(transport=transport, base_url="http://test")
        self.clients.append(client)
        return client

    def headers(
        self, subject: str = "root-admin", *, roles: tuple[str, ...] = ("system_admin",),
        scope: Scope | str = DISTRICT,
    ) -> dict[str, str]:  # fmt: skip
        return bearer(self.settings.auth, subject, roles=roles, scope=scope)

    async def audit(self, actor: str) -> list[AuditRecorded]:
        """The records identity's outbox holds for `actor`, oldest first."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(outbox.table.c.value)
                .where(outbox.table.c.topic == AUDIT, outbox.table.c.key == actor)
                .order_by(outbox.table.c.id)
            )
            return [AuditRecorded.model_validate_json(v) for (v,) in rows]


@asynccontextmanager
async def running(url: str, engine: AsyncEngine) -> AsyncIterator[Issuer]:
    clock = Clock()
    app = identity_app(url, clock)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as manager:
        issuer = Issuer(manager.app, clock, engine, settings_for(url))
        try:
            yield issuer
        finally:
            for client in issuer.clients:
                await client.aclose()


@pytest.fixture
async def issuer(identity_db: str, engine: AsyncEngine) -> AsyncIterator[Issuer]:
    async with running(identity_db, engine) as found:
        yield found


async def login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/token", data={"username": username, "password": password}
    )
