"""The HTTP edge of every app `build_app` makes: /api/v1 refuses a request without a bearer
token before reading a byte of its body, bodies have a size limit (a bulk route its own),
clients are limited per address, answers carry the security headers, CORS only for the
origins configured, the client's request id only when well-formed, the documentation pages
from local files, and /metrics behind its token when one is set."""

from __future__ import annotations

import tracemalloc
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from starlette.types import Message, Receive, Scope, Send

from riskwatch.common.app import Named, Runtime, build_app
from riskwatch.common.bus import TopicSpec
from riskwatch.common.docs import STATIC_URL
from riskwatch.common.edge import API_CSP, OPEN_ROUTES, docs_enabled
from riskwatch.common.errors import PROBLEM_JSON
from riskwatch.common.settings import HttpSettings, ServiceSettings

MiB = 1024 * 1024
LIMIT = 64 * 1024  # the default body limit of these tests
BULK_LIMIT = 4 * LIMIT
# Shaped like a JWT: the edge looks no further (the route's dependency verifies it).
A_TOKEN = {"Authorization": "Bearer eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"}

router = APIRouter(prefix="/api/v1")


@router.post("/things")
async def add_things(items: list[Any]) -> dict[str, int]:
    return {"items": len(items)}


@router.post("/things/bulk")
async def add_many_things(items: list[Any]) -> dict[str, int]:
    return {"items": len(items)}


@router.get("/things")
async def list_things() -> dict[str, list[str]]:
    return {"items": []}


@router.post("/auth/token")
async def log_in() -> dict[str, str]:
    return {"token_type": "bearer"}


class Module:
    """A module whose routes read bodies without asking for a token: whatever they answer,
    the edge let the request through."""

    name = "things"
    migrations_dir: Path | None = None

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings

    def routers(self) -> Sequence[APIRouter]:
        return [router]

    def topics(self, runtime: Runtime) -> Sequence[TopicSpec]:
        return []

    async def components(self, runtime: Runtime) -> Sequence[Named]:
        return []

    def bulk_routes(self) -> dict[tuple[str, str], int]:
        return {("POST", "/api/v1/things/bulk"): BULK_LIMIT}


def make_app(**http: Any) -> FastAPI:
    settings = ServiceSettings(
        http=HttpSettings(**{"max_body_bytes": LIMIT, "rate_per_address": "off", **http})
    )
    # Not started: nothing here needs the database or the bus.
    return build_app(title="things", settings=settings, modules=[Module(settings)])


class Counted:
    """The app, counting the body bytes it draws from the server."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.read = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def counting() -> Message:
            message = await receive()
            self.read += len(message.get("body", b""))
            return message

        await self.app(scope, counting, send)


def client_of(app: Any, address: str = "203.0.113.7") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.fixture
async def counted() -> AsyncIterator[tuple[httpx.AsyncClient, Counted]]:
    app = Counted(make_app())
    async with client_of(app) as client:
        yield client, app


async def fifty_mib() -> AsyncIterator[bytes]:
    """50 MiB sent as a stream, no Content-Length: a server learns its size by reading it."""
    chunk = b"[" + b"0," * (MiB // 2 - 1) + b"0"
    for _ in range(50):
        yield chunk


def assert_problem(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["type"].endswith(f"/{kind}")
    assert body["request_id"] == response.headers["x-request-id"]
    return body


async def test_a_body_without_a_token_is_refused_before_a_byte_of_it_is_read(
    counted: tuple[httpx.AsyncClient, Counted],
) -> None:
    client, app = counted
    tracemalloc.start()
    try:
        response = await client.post("/api/v1/things", content=fifty_mib())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == "Bearer"
    assert app.read == 0
    assert peak < 4 * MiB  # nothing of the 50 MiB was kept
    # Declared, not streamed: refused alike, for the same reason.
    declared = await client.post(
        "/api/v1/things", content=fifty_mib(), headers={"Content-Length": str(50 * MiB)}
    )
    assert_problem(declared, 401, "unauthorized")
    assert app.read == 0


@pytest.mark.parametrize(
    "authorization",
    ["", "Bearer", "Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "Bearer a.b", "Bearer a.b.c.d"],
)
async def test_anything_but_a_bearer_jwt_is_no_token(
    counted: tuple[httpx.AsyncClient, Counted], authorization: str
) -> None:
    client, app = counted
    headers = {"Authorization": authorization} if authorization else {}
    response = await client.post("/api/v1/things", json=[1, 2], headers=headers)
    assert_problem(response, 401, "unauthorized")
    assert app.read == 0


async def test_the_open_routes_and_what_is_not_the_api_take_no_token(
    counted: tuple[httpx.AsyncClient, Counted],
) -> None:
    client, _ = counted
    assert ("POST", "/api/v1/auth/token") in OPEN_ROUTES
    assert (await client.post("/api/v1/auth/token")).status_code == 200
    assert (await client.get("/healthz")).status_code == 200
    # A token that looks like one gets through to the route, which verifies it (not here).
    allowed = await client.post("/api/v1/things", json=[1, 2, 3], headers=A_TOKEN)
    assert allowed.json() == {"items": 3}


async def test_a_body_beyond_the_limit_is_a_413_problem_and_not_read_on(
    counted: tuple[httpx.AsyncClient, Counted],
) -> None:
    client, app = counted
    declared = await client.post(
        "/api/v1/things",
        content=fifty_mib(),
        headers={**A_TOKEN, "Content-Length": str(50 * MiB)},
    )
    body = assert_problem(declared, 413, "content-too-large")
    assert body["max_bytes"] == LIMIT
    assert app.read == 0  # refused on its Content-Length
    streamed = await client.post("/api/v1/things", content=fifty_mib(), headers=A_TOKEN)
    assert_problem(streamed, 413, "content-too-large")
    assert app.read <= LIMIT + MiB  # read up to the chunk that passed the limit, no further


async def test_a_bulk_route_has_its_own_limit(
    counted: tuple[httpx.AsyncClient, Counted],
) -> None:
    client, _ = counted
    items = [123456] * (2 * LIMIT // 7)  # about twice the default limit
    assert (await client.post("/api/v1/things/bulk", json=items, headers=A_TOKEN)).json() == {
        "items": len(items)
    }
    assert_problem(
        await client.post("/api/v1/things", json=items, headers=A_TOKEN), 413, "content-too-large"
    )
    too_many = [123456] * (2 * BULK_LIMIT // 7)
    assert_problem(
        await client.post("/api/v1/things/bulk", json=too_many, headers=A_TOKEN),
        413,
        "content-too-large",
    )


async def test_answers_carry_the_security_headers() -> None:
    async with client_of(make_app()) as client:
        for response in (
            await client.get("/api/v1/things", headers=A_TOKEN),
            await client.get("/api/v1/things"),  # a refusal of the edge
            await client.get("/healthz"),
        ):
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["x-frame-options"] == "DENY"
            assert response.headers["referrer-policy"] == "no-referrer"
            assert response.headers["content-security-policy"] == API_CSP
            assert "strict-transport-security" not in response.headers
        assert response.headers.get("cache-control") != "no-store"  # /healthz
        api = await client.get("/api/v1/things", headers=A_TOKEN)
        assert api.headers["cache-control"] == "no-store"
    async with client_of(make_app(behind_tls=True)) as client:
        response = await client.get("/healthz")
        assert response.headers["strict-transport-security"].startswith("max-age=")


async def test_cors_only_for_the_configured_origins() -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    async with client_of(make_app()) as client:
        response = await client.options(
            "/api/v1/things", headers={"Origin": "https://ops.example.org", **preflight}
        )
        assert "access-control-allow-origin" not in response.headers
    async with client_of(make_app(cors_origins=["https://ops.example.org"])) as client:
        allowed = await client.options(
            "/api/v1/things", headers={"Origin": "https://ops.example.org", **preflight}
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://ops.example.org"
        assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
        other = await client.options(
            "/api/v1/things", headers={"Origin": "https://evil.example", **preflight}
        )
        assert "access-control-allow-origin" not in other.headers
        # Refusals are readable by the page too: it can tell a 401 from a network error.
        refused = await client.get("/api/v1/things", headers={"Origin": "https://ops.example.org"})
        assert refused.status_code == 401
        assert refused.headers["access-control-allow-origin"] == "https://ops.example.org"
    with pytest.raises(ValueError, match="no \\*"):
        HttpSettings(cors_origins=["*"])


async def test_each_address_is_limited_but_probes_and_other_addresses_are_not() -> None:
    app = make_app(rate_per_address="5/minute")
    async with client_of(app) as client, client_of(app, "198.51.100.9") as neighbour:
        for _ in range(5):
            assert (await client.get("/api/v1/things", headers=A_TOKEN)).status_code == 200
        refused = await client.get("/api/v1/things", headers=A_TOKEN)
        body = assert_problem(refused, 429, "address-rate-limited")
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert body["retry_after_s"] == int(refused.headers["retry-after"])
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/metrics")).status_code == 200
        assert (await neighbour.get("/api/v1/things", headers=A_TOKEN)).status_code == 200


async def test_a_bulk_route_counts_only_its_refusals_per_address() -> None:
    """Gateways behind one address post many batches; a flood of requests without a valid
    token to the same route is still stopped."""
    app = make_app(rate_per_address="5/minute")
    async with client_of(app) as client:
        for _ in range(20):
            ok = await client.post("/api/v1/things/bulk", json=[1], headers=A_TOKEN)
            assert ok.status_code == 200
        for _ in range(5):
            assert (await client.post("/api/v1/things/bulk", json=[1])).status_code == 401
        assert_problem(
            await client.post("/api/v1/things/bulk", json=[1], headers=A_TOKEN),
            429,
            "address-rate-limited",
        )


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("req-2026.12_01-abc", True),
        ("a" * 128, True),
        ("a" * 129, False),
        ("<script>", False),
        ("id with spaces", False),
        ("", False),
    ],
)
async def test_a_client_request_id_is_kept_only_when_well_formed(sent: str, kept: bool) -> None:
    async with client_of(make_app()) as client:
        response = await client.get("/api/v1/things", headers={"X-Request-Id": sent})
    echoed = response.headers["x-request-id"]
    assert response.json()["request_id"] == echoed
    if kept:
        assert echoed == sent
    else:
        assert echoed != sent
        assert len(echoed) == 32
        assert echoed.isalnum()


async def test_the_documentation_is_served_from_local_files() -> None:
    async with client_of(make_app()) as client:
        for page, script in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
            response = await client.get(page)
            assert response.status_code == 200
            assert "://" not in response.text  # no CDN, no fonts from elsewhere
            assert f"{STATIC_URL}/{script}" in response.text
            csp = response.headers["content-security-policy"]
            scripts = csp.split("script-src ")[1].split(";")[0]
            assert "'unsafe-inline'" not in scripts
            assert "frame-ancestors 'none'" in csp
            asset = await client.get(f"{STATIC_URL}/{script}")
            assert asset.status_code == 200
            assert len(asset.content) > 100_000
        swagger = await client.get("/docs")
        assert "'sha256-" in swagger.headers["content-security-policy"]  # its inline script
        assert (await client.get("/docs/oauth2-redirect")).status_code == 200
        assert (await client.get("/openapi.json")).status_code == 200
    async with client_of(make_app(docs="off")) as client:
        for path in ("/docs", "/redoc", "/openapi.json", f"{STATIC_URL}/swagger-ui-bundle.js"):
            assert (await client.get(path)).status_code == 404, path


def test_documentation_is_off_by_default_in_production_only() -> None:
    def settings(env: str, docs: str | None = None) -> ServiceSettings:
        # model_construct: production's other checks (secrets) are not what this is about.
        return ServiceSettings.model_construct(env=env, http=HttpSettings(docs=docs))

    assert docs_enabled(settings("development"))
    assert docs_enabled(settings("test"))
    assert not docs_enabled(settings("production"))
    assert docs_enabled(settings("production", "on"))
    assert not docs_enabled(settings("development", "off"))


async def test_metrics_need_the_token_when_one_is_set() -> None:
    async with client_of(make_app()) as client:
        assert (await client.get("/metrics")).status_code == 200
    async with client_of(make_app(metrics_token="scrape-token-of-prometheus")) as client:
        assert_problem(await client.get("/metrics"), 401, "unauthorized")
        wrong = {"Authorization": "Bearer scrape-token-of-someone-else"}
        assert_problem(await client.get("/metrics", headers=wrong), 401, "unauthorized")
        right = {"Authorization": "Bearer scrape-token-of-prometheus"}
        response = await client.get("/metrics", headers=right)
        assert response.status_code == 200
        assert "rw_http_requests_total" in response.text


def test_the_openapi_document_lists_413_and_429() -> None:
    paths = make_app().openapi()["paths"]
    post = paths["/api/v1/things"]["post"]["responses"]
    assert {"413", "429"} <= set(post)
    assert post["429"]["content"] == {
        PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}
    }
    get = paths["/api/v1/things"]["get"]["responses"]
    assert "429" in get
    assert "413" not in get  # it takes no body


@pytest.mark.parametrize("rate", ["600/minute", "10 per second", "off"])
def test_rates_are_checked_when_settings_load(rate: str) -> None:
    assert HttpSettings(rate_per_account=rate).rate_per_account == rate
    with pytest.raises(ValueError, match="not a rate"):
        HttpSettings(rate_per_account="lots")
