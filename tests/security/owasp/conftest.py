"""Fixtures of the OWASP API Security Top 10 (2023) tests: the embedded platform (the five
services, identity and the audit trail in one process) on a real PostgreSQL database of its own
per module, with the demo accounts, and clients that come from the address a test chooses.

Five failed logins lock the client's address for 15 minutes: a test that fails logins on
purpose takes an address of its own (`Platform.client("198.51.100.N")`), and each module has
its own platform and database, so no lock or counter crosses modules.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from asgi_lifespan import LifespanManager
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from riskwatch.common.access import ROLES
from riskwatch.common.errors import PROBLEM_JSON
from riskwatch.common.testing import admitted, migrate
from riskwatch.embedded.platform import create_platform, migration_dirs
from riskwatch.embedded.settings import EmbeddedSettings

ADMIN_PASSWORD = "Tidal-Gate-4471"
DEMO_PASSWORD = "Flood-Wall-8832"
FIRST_PASSWORD = "Lantern-Quay-5190"  # what an administrator sets for a new account
OWN_PASSWORD = "Harbour-Lamp-6203"  # what its owner changes it to
TOKEN = "/api/v1/auth/token"
PASSWORD = "/api/v1/auth/password"
ME = "/api/v1/auth/me"
DEFAULT_ADDRESS = "198.51.100.1"  # RFC 5737 documentation range: nobody's real address


@dataclass
class Platform:
    """A started embedded platform: its settings, its database, clients from any address."""

    app: FastAPI
    asgi: Any  # the app as its lifespan runs it
    settings: EmbeddedSettings
    database_url: str
    _clients: list[httpx.AsyncClient] = field(default_factory=list)

    def client(self, address: str = DEFAULT_ADDRESS) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=self.asgi, client=(address, 40000))
        client = httpx.AsyncClient(transport=transport, base_url="http://test")
        self._clients.append(client)
        return client

    async def close(self) -> None:
        for client in self._clients:
            await client.aclose()


@pytest.fixture(scope="module")
def platform_options() -> dict[str, Any]:
    """Settings of the module's platform beside the defaults (a module overrides it)."""
    return {}


@pytest.fixture(scope="module")
def platform_env() -> dict[str, str]:
    """RW_* variables set while the platform is built: the settings each service reads for
    itself (ingest's sector budgets), which the platform's own settings do not carry."""
    return {}


@pytest.fixture(scope="module")
async def platform(
    make_database: Callable[[str], str],
    platform_options: dict[str, Any],
    platform_env: dict[str, str],
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Platform]:
    name = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    url = make_database(f"owasp_{name}"[:40])
    await migrate(url, migration_dirs())
    options: dict[str, Any] = {
        "data_dir": tmp_path_factory.mktemp(f"owasp-{name}"),
        "feed": False,
        "admin_password": ADMIN_PASSWORD,
        "demo_password": DEMO_PASSWORD,
        **platform_options,
    }
    settings = EmbeddedSettings(**options)
    with pytest.MonkeyPatch.context() as patch:
        for key, value in platform_env.items():
            assert key.startswith("RW_"), key
            patch.setenv(key, value)
        app = create_platform(settings, url)
    async with LifespanManager(app, startup_timeout=60, shutdown_timeout=30) as manager:
        started = Platform(app, manager.app, settings, url)
        try:
            yield started
        finally:
            await started.close()


@pytest.fixture(scope="module")
def client(platform: Platform) -> httpx.AsyncClient:
    """A client from the default address, for what fails no login."""
    return platform.client()


def bearer_of(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def token(
    client: httpx.AsyncClient, username: str, password: str, **form: str
) -> httpx.Response:
    return await client.post(TOKEN, data={"username": username, "password": password, **form})


async def login(client: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    """Headers of a fresh access token, once every service knows the account (ADR 0015)."""
    response = await token(client, username, password)
    assert response.status_code == 200, response.text
    headers = bearer_of(response.json()["access_token"])
    await admitted(client, headers)
    return headers


async def open_account(
    client: httpx.AsyncClient,
    admin: dict[str, str],
    username: str,
    *,
    roles: tuple[str, ...],
    scope: str,
) -> dict[str, str]:
    """An account opened by an administrator, its password changed by its owner as the first
    login asks, logged in: the headers of its token."""
    created = await client.post(
        "/api/v1/accounts",
        headers=admin,
        json={
            "username": username,
            "display_name": username,
            "password": FIRST_PASSWORD,
            "roles": list(roles),
            "scope": scope,
        },
    )
    assert created.status_code == 201, created.text
    changed = await client.post(
        PASSWORD,
        json={
            "username": username,
            "current_password": FIRST_PASSWORD,
            "new_password": OWN_PASSWORD,
        },
    )
    assert changed.status_code == 204, changed.text
    return await login(client, username, OWN_PASSWORD)


BUSINESS_ROLES = tuple(role for role, info in ROLES.items() if not info.administrator)


@dataclass(frozen=True)
class Everyone:
    """Tokens that hold every permission between them. No one account can: an administrator's
    role is held alone (ADR 0013). `business` holds every other role; `admin` (the system
    administrator) answers for accounts and roles, `auditor` for the trail."""

    business: dict[str, str]
    admin: dict[str, str]
    auditor: dict[str, str]

    def for_path(self, path: str) -> dict[str, str]:
        if path.startswith("/api/v1/audit"):
            return self.auditor
        if path.startswith(("/api/v1/accounts", "/api/v1/roles")):
            return self.admin
        return self.business


async def open_everyone(client: httpx.AsyncClient, admin: dict[str, str], prefix: str) -> Everyone:
    business = await open_account(
        client, admin, f"{prefix}-business", roles=BUSINESS_ROLES, scope="district"
    )
    auditor = await open_account(
        client, admin, f"{prefix}-auditor", roles=("audit_admin",), scope="district"
    )
    return Everyone(business=business, admin=admin, auditor=auditor)


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """`response` is an RFC 9457 problem of `status`; its body."""
    assert response.status_code == status, f"{response.status_code} {response.text}"
    assert response.headers["content-type"] == PROBLEM_JSON, response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title", "instance"} <= body.keys()
    return body


# A real HTTP server on 127.0.0.1 -----------------------------------------------------------
# For what the platform itself fetches (an external issuer's keys) or must never fetch.


@dataclass
class Remote:
    """A server someone else runs, played by a small app: what it was asked, and how it
    answers each path (`answers[path]`, else 404)."""

    url: str = ""
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    answers: dict[str, Callable[[], Response]] = field(default_factory=dict)

    def app(self) -> FastAPI:
        app = FastAPI(openapi_url=None)

        @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "HEAD", "OPTIONS"])
        async def anything(request: Request, path: str) -> Response:
            self.requests.append((request.method, f"/{path}", dict(request.headers)))
            answer = self.answers.get(f"/{path}")
            return answer() if answer else JSONResponse({"detail": "no"}, status_code=404)

        return app

    def paths(self) -> list[str]:
        return [path for _, path, _ in self.requests]


@contextmanager
def serving(remote: Remote) -> Iterator[Remote]:
    """`remote`'s app served by uvicorn in a thread, on a port taken before it starts."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    remote.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(remote.app(), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield remote
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
