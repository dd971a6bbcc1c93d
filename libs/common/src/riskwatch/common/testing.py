"""Helpers for services' tests: migrated databases, rolled-back sessions, authenticated clients.

Databases come from the devstack pytest plugin (`make_database`), a real PostgreSQL; nothing
here fakes one. Each test runs in an outer transaction that is rolled back at the end, and the
code under test uses savepoints inside it, so tests never see each other's rows.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

import httpx
import schemathesis
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from riskwatch.common.access import DISTRICT, Scope
from riskwatch.common.auth import TokenService
from riskwatch.common.migrate import upgrade
from riskwatch.common.settings import AuthSettings

T = TypeVar("T")

# What a service's schemathesis conformance test checks of every answer.
CONFORMANCE_CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.response_headers_conformance,
]


async def migrate(url: str, migration_dirs: Sequence[Path]) -> None:
    for directory in migration_dirs:
        await asyncio.to_thread(upgrade, directory, url)


def engine_for(url: str) -> AsyncEngine:
    # NullPool: each test's connection is its own; no pooled connection outlives its loop.
    return create_async_engine(url, poolclass=NullPool)


@asynccontextmanager
async def rolled_back_session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session bound to an outer transaction that is always rolled back.

    Code under test may call `session.begin()`/`commit()`: with "create_savepoint" those become
    savepoints inside the outer transaction.
    """
    async with engine.connect() as conn:
        outer = await conn.begin()
        session = AsyncSession(
            bind=conn, expire_on_commit=False, join_transaction_mode="create_savepoint"
        )
        try:
            yield session
        finally:
            await session.close()
            if outer.is_active:
                await outer.rollback()


# What a service's tests act as by default: an operator who may do every business action of
# the district (rules, devices, readings, work orders, acknowledgements), not administration.
OPERATOR_ROLES = ("business_admin", "gateway")


def bearer(
    auth: AuthSettings,
    subject: str = "tester",
    *,
    roles: tuple[str, ...] = OPERATOR_ROLES,
    scope: Scope | str = DISTRICT,
) -> dict[str, str]:
    """Authorization headers with a token from the same issuer settings the app verifies."""
    if isinstance(scope, str):
        scope = Scope.parse(scope)
    token, _ = TokenService(auth).issue(subject, roles=roles, scope=scope)
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def app_client(
    app: FastAPI, *, startup_timeout: float = 60
) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on the app in-process, with its lifespan (components) running."""
    async with LifespanManager(
        app, startup_timeout=startup_timeout, shutdown_timeout=30
    ) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def eventually(
    check: Callable[[], Awaitable[T]], *, timeout: float = 20.0, interval: float = 0.1
) -> T:
    """Poll an async predicate until it returns something truthy; fail after `timeout`.

    For asynchronous pipelines (an event crossing consumers) — a bound on waiting, not a
    performance assertion: it only fails when the thing never happens.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        last = await check()
        if last:
            return last
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s; last result: {last!r}")
        await asyncio.sleep(interval)
