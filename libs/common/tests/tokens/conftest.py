"""Fixtures of the token tests: issuers on real PostgreSQL with a clock the tests move, served
in-process (httpx ASGITransport) or by a real uvicorn on 127.0.0.1 when another app must fetch
their keys over HTTP."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
import pytest
import uvicorn
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, Depends, FastAPI
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from riskwatch.common.access import Permission
from riskwatch.common.app import build_app
from riskwatch.common.auth import Principal, TokenService, require
from riskwatch.common.bus import MemoryBus
from riskwatch.common.events.audit import AuditRecorded
from riskwatch.common.events.topics import AUDIT
from riskwatch.common.identity.keys import KeyRing
from riskwatch.common.identity.models import outbox
from riskwatch.common.identity.module import MIGRATIONS, IdentityModule
from riskwatch.common.identity.router import KEYRING_KEY
from riskwatch.common.settings import AuthSettings, DatabaseSettings, ServiceSettings
from riskwatch.common.testing import TokenClaims, bearer, engine_for, migrate
from riskwatch.devstack._util import free_port

ADMIN_PASSWORD = "Seed-Root-Passw0rd!"
FIRST_PASSWORD = "Temporary-Pass-2026"
OWN_PASSWORD = "My-Own-Secret-7781"
TOKEN = "/api/v1/auth/token"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/auth/me"
JWKS = "/.well-known/jwks.json"


@dataclass
class Clock:
    """The issuer's now: real time at the start, moved forward by the tests."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def new_address() -> str:
    """A client address of this test alone: lockouts by address must not cross tests."""
    return f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"


async def fresh_database(make_database: Callable[[str], str], prefix: str) -> str:
    url = make_database(prefix)
    await migrate(url, [MIGRATIONS])
    return url


@pytest.fixture(scope="session")
async def tokens_db(make_database: Callable[[str], str]) -> str:
    return await fresh_database(make_database, "tokens")


@pytest.fixture
async def engine(tokens_db: str) -> AsyncIterator[AsyncEngine]:
    engine = engine_for(tokens_db)
    yield engine
    await engine.dispose()


def issuer_settings(url: str, **auth: Any) -> ServiceSettings:
    return ServiceSettings(
        env="test",
        bus="memory",
        database=DatabaseSettings(url=url),
        auth=AuthSettings(builtin_issuer=True, **auth),
        admin_password=SecretStr(ADMIN_PASSWORD),
        outbox_poll_interval_s=0.05,
    )


@dataclass
class Issuer:
    """A running app hosting the built-in issuer, its clock, and clients on it."""

    app: FastAPI
    asgi: Any  # the app with its lifespan running
    clock: Clock
    engine: AsyncEngine
    settings: ServiceSettings
    clients: list[httpx.AsyncClient] = field(default_factory=list)

    @property
    def tokens(self) -> TokenService:
        tokens: TokenService = self.app.state.tokens
        return tokens

    @property
    def keys(self) -> KeyRing:
        keys = self.app.state.runtime.extras[KEYRING_KEY]
        assert isinstance(keys, KeyRing)
        return keys

    async def client(self, address: str | None = None) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.asgi, client=(address or new_address(), 40000))
        client = httpx.AsyncClient(transport=transport, base_url="http://test")
        self.clients.append(client)
        return client

    def admin_headers(self) -> dict[str, str]:
        """A district system administrator with no account here (the test process's key)."""
        return bearer(self.settings.auth, "root-admin", roles=("system_admin",))

    async def open_account(self, username: str, *, roles: tuple[str, ...] = ("handler",)) -> None:
        """An account an administrator opened, whose owner then chose its own password."""
        client = await self.client()
        created = await client.post(
            "/api/v1/accounts",
            json={
                "username": username,
                "display_name": "Test account",
                "password": FIRST_PASSWORD,
                "roles": list(roles),
                "scope": "district",
            },
            headers=self.admin_headers(),
        )
        assert created.status_code == 201, created.text
        changed = await client.post(
            "/api/v1/auth/password",
            json={
                "username": username,
                "current_password": FIRST_PASSWORD,
                "new_password": OWN_PASSWORD,
            },
        )
        assert changed.status_code == 204, changed.text

    async def audit(self, actor: str) -> list[AuditRecorded]:
        """The audit records identity's outbox holds for `actor`, oldest first."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(outbox.table.c.value)
                .where(outbox.table.c.topic == AUDIT, outbox.table.c.key == actor)
                .order_by(outbox.table.c.id)
            )
            return [AuditRecorded.model_validate_json(v) for (v,) in rows]


def issuer_app(settings: ServiceSettings, clock: Clock) -> FastAPI:
    return build_app(
        title="identity",
        settings=settings,
        modules=[IdentityModule(settings, clock=clock, announce=False)],
        bus=MemoryBus(),
        accounts=TokenClaims(),  # the issuer alone: no projection of accounts (ADR 0015)
    )


@asynccontextmanager
async def running_issuer(
    url: str, *, clock: Clock | None = None, **auth: Any
) -> AsyncIterator[Issuer]:
    clock = clock or Clock()
    settings = issuer_settings(url, **auth)
    app = issuer_app(settings, clock)
    engine = engine_for(url)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as manager:
        issuer = Issuer(app, manager.app, clock, engine, settings)
        try:
            yield issuer
        finally:
            for client in issuer.clients:
                await client.aclose()
            await engine.dispose()


@asynccontextmanager
async def served(app: FastAPI, port: int | None = None) -> AsyncIterator[str]:
    """`app` served by uvicorn on 127.0.0.1 (its lifespan included): its base URL."""
    port = port or free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(600):
            if server.started or task.done():
                break
            await asyncio.sleep(0.05)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def served_issuer(
    url: str, *, clock: Clock | None = None, **auth: Any
) -> AsyncIterator[tuple[Issuer, str]]:
    """An issuer served over real HTTP (for apps that fetch its keys), and its base URL."""
    clock = clock or Clock()
    settings = issuer_settings(url, **auth)
    app = issuer_app(settings, clock)
    engine = engine_for(url)
    async with AsyncExitStack() as stack:
        base = await stack.enter_async_context(served(app))
        issuer = Issuer(app, app, clock, engine, settings)
        stack.push_async_callback(engine.dispose)
        try:
            yield issuer, base
        finally:
            for client in issuer.clients:
                await client.aclose()


# A service without the issuer: one route that needs a permission, and says who called.
whoami = APIRouter()


@whoami.get("/api/v1/whoami")
async def who_am_i(
    caller: Annotated[Principal, Depends(require(Permission.CATALOG_READ))],
) -> dict[str, Any]:
    return {"subject": caller.subject, "roles": list(caller.roles), "scope": str(caller.scope)}


def service_app(**auth: Any) -> FastAPI:
    """A service app that hosts no issuer and verifies tokens with the keys at
    RW_AUTH__JWKS_URL (in `auth`)."""
    settings = ServiceSettings(
        env="test",
        bus="memory",
        database=DatabaseSettings(url="postgresql+asyncpg://unused@127.0.0.1:1/none"),
        auth=AuthSettings(**auth),
    )
    return build_app(
        title="service", settings=settings, modules=[], bus=MemoryBus(),
        extra_routers=[whoami], accounts=TokenClaims(),
    )  # fmt: skip


@asynccontextmanager
async def service_client(**auth: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = service_app(**auth)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            yield client


async def login(
    client: httpx.AsyncClient, username: str, password: str = OWN_PASSWORD, **form: str
) -> httpx.Response:
    return await client.post(TOKEN, data={"username": username, "password": password, **form})


def bearer_of(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def tokens_of(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
