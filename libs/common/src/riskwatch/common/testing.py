"""Helpers for services' tests: migrated databases, rolled-back sessions, authenticated clients.

Databases come from the devstack pytest plugin (`make_database`), a real PostgreSQL; nothing
here fakes one. Each test runs in an outer transaction that is rolled back at the end, and the
code under test uses savepoints inside it, so tests never see each other's rows.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TypeVar

import httpx
import schemathesis
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from riskwatch.common.access import DISTRICT, Scope
from riskwatch.common.auth import Principal, SigningKey, TokenService, trust_local_key
from riskwatch.common.bus import Bus, record_for
from riskwatch.common.events.envelope import new_event
from riskwatch.common.events.identity import AccountChanged
from riskwatch.common.events.topics import ACCOUNTS
from riskwatch.common.migrate import upgrade
from riskwatch.common.principals import AccountCache, AccountState, Principals
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


@cache
def local_signing_key() -> SigningKey:
    """This test process's own signing key: made on first use, held in memory only, and
    trusted by every app of the process for its configured issuer (`auth.trust_local_key`),
    so that service tests need neither the issuer nor its database for a token."""
    key = SigningKey.generate()
    trust_local_key(key)
    return key


def bearer(
    auth: AuthSettings,
    subject: str = "tester",
    *,
    roles: tuple[str, ...] = OPERATOR_ROLES,
    scope: Scope | str = DISTRICT,
    version: int = 0,
) -> dict[str, str]:
    """Authorization headers with a token for the issuer and audience of `auth`, signed with
    the test process's key."""
    if isinstance(scope, str):
        scope = Scope.parse(scope)
    token, _ = TokenService(auth).mint(
        subject, key=local_signing_key(), roles=roles, scope=scope, version=version
    )
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


# Accounts ------------------------------------------------------------------------------------
# A service admits a token only for an account it knows (ADR 0015): `bearer` mints tokens for
# any subject, these make the subject an account of the service under test.


async def grant(
    target: FastAPI | str,
    subject: str = "tester",
    *,
    roles: tuple[str, ...] = OPERATOR_ROLES,
    scope: Scope | str = DISTRICT,
    schema: str | None = None,
    disabled: bool = False,
    session_epoch: int = 0,
) -> None:
    """Make `subject` an account of the service under test, as if identity's snapshot had
    reached it: in the projection of a started app (`target` a FastAPI app, whose account
    cache is dropped too), or of `schema` in the database at `target` (a URL: for an app that
    is not started yet, such as schemathesis's). Replaces whatever the projection held."""
    state = AccountState(
        username=subject,
        roles=tuple(roles),
        scope=str(scope if isinstance(scope, Scope) else Scope.parse(scope)),
        disabled=disabled,
        session_epoch=session_epoch,
        changed_at=datetime.now(UTC),
    )
    if isinstance(target, str):
        if schema is None:
            raise ValueError("grant on a database URL needs the service's schema")
        engine = engine_for(target)
        try:
            async with AsyncSession(engine) as session, session.begin():
                await Principals(MetaData(schema=schema)).put(session, state)
        finally:
            await engine.dispose()
        return
    cache = getattr(target.state, "principals", None)
    if not isinstance(cache, AccountCache):
        raise RuntimeError("grant needs a started app that keeps a projection of accounts")
    async with cache.sessions() as session, session.begin():
        await cache.principals.put(session, state)
    cache.clear()


async def account_bearer(
    app: FastAPI,
    auth: AuthSettings,
    subject: str = "tester",
    *,
    roles: tuple[str, ...] = OPERATOR_ROLES,
    scope: Scope | str = DISTRICT,
) -> dict[str, str]:
    """`grant` then `bearer`: headers of a token whose account the started `app` knows."""
    await grant(app, subject, roles=roles, scope=scope)
    return bearer(auth, subject, roles=roles, scope=scope)


async def announce_account(
    bus: Bus,
    subject: str,
    *,
    roles: tuple[str, ...] = OPERATOR_ROLES,
    scope: Scope | str = DISTRICT,
    disabled: bool = False,
    session_epoch: int = 0,
    changed_at: datetime | None = None,
) -> AccountChanged:
    """Publish identity's snapshot of an account on `bus`, the way every service learns of
    it; wait for its effect with `eventually`."""
    event = AccountChanged(
        username=subject,
        roles=list(roles),
        scope=str(scope),
        disabled=disabled,
        session_epoch=session_epoch,
        changed_at=changed_at or datetime.now(UTC),
    )
    envelope = new_event(event, source="/riskwatch/identity", subject=subject)
    await bus.publish([record_for(ACCOUNTS, envelope, key=subject)])
    return event


async def admitted(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    *,
    path: str = "/api/v1/auth/me",
    timeout: float = 20.0,
) -> None:
    """Wait until the service behind `client` admits a token just issued (its account's
    snapshot has reached the service): `path` answers anything but 401. For a real login
    followed by calls, in-process or against running services (`path` one of theirs)."""

    async def check() -> bool:
        return (await client.get(path, headers=headers)).status_code != 401

    await eventually(check, timeout=timeout)


# A GET on each service that any operational account may call: answers anything but 401 once
# the service admits the caller's token (a 404 for the trail of an alarm that does not exist).
ADMISSION_PROBES = {
    "ingest": "/api/v1/devices?limit=1",
    "alerting": "/api/v1/rules?limit=1",
    "workorder": "/api/v1/workorders?limit=1",
    "notify": "/api/v1/notifications?limit=1",
    "reporting": "/api/v1/reports/alarms/admission-probe",
}


async def admitted_by_all(
    base_urls: dict[str, str], headers: dict[str, str], *, timeout: float = 30.0
) -> None:
    """`admitted` on every service of a running platform, each by its base URL."""
    for service, base in base_urls.items():
        async with httpx.AsyncClient(base_url=base, timeout=30, trust_env=False) as client:
            await admitted(client, headers, path=ADMISSION_PROBES[service], timeout=timeout)


class TokenClaims:
    """An account source that trusts the token's own claims, as services did before ADR 0015:
    only for a test app that hosts no projection of accounts (the issuer alone, the audit trail
    alone), passed as `build_app(accounts=TokenClaims())`. Never in a service."""

    async def account(self, principal: Principal) -> AccountState | None:
        return AccountState(
            username=principal.subject,
            roles=principal.roles,
            scope=str(principal.scope),
            disabled=False,
            session_epoch=0,
            changed_at=datetime.min.replace(tzinfo=UTC),
        )
