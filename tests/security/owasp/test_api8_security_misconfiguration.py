"""OWASP API8:2023, Security Misconfiguration: missing security headers, CORS open to any
origin, documentation and metrics open in production, stack traces and SQL in error answers,
framework-default error pages, demo or weak credentials accepted in production.

RiskWatch answers at the edge (ADR 0016): security headers on every answer, errors included
(no sniffing, no framing, no referrer, a Content-Security-Policy that loads nothing, no-store
on /api/v1, HSTS behind TLS); CORS only for the origins named, without credentials; /docs,
/redoc and /openapi.json off by default in production; /metrics behind its token when one is
set; every error, from a 404 of an unknown path to a database failure, an RFC 9457 problem with
a request id and nothing of the exception, the SQL or the stack; production settings refuse the
demo accounts and a weak admin password. This module's platform runs behind TLS, with one CORS
origin and a metrics token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from pydantic import ValidationError
from sqlalchemy import text

from riskwatch.common.testing import engine_for
from riskwatch.embedded.platform import create_platform
from riskwatch.embedded.settings import EmbeddedSettings

from .conftest import ADMIN_PASSWORD, DEMO_PASSWORD, Platform, assert_problem, login

pytestmark = [pytest.mark.postgres]

ORIGIN = "https://ops.example.org"
METRICS_TOKEN = "scrape-me-8f3a1c"
SECRET = "hunter2-in-the-exception-text"
HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-resource-policy": "same-origin",
    "strict-transport-security": "max-age=31536000; includeSubDomains",
}
LEAKS = ("Traceback", 'File "', ".py", SECRET, "RuntimeError", "SELECT", "duty_center",
         "relation", "asyncpg", "sqlalchemy", "postgres")  # fmt: skip


@pytest.fixture(scope="module")
def platform_options() -> dict[str, Any]:
    return {"http": {"cors_origins": [ORIGIN], "behind_tls": True, "metrics_token": METRICS_TOKEN}}


@pytest.fixture(scope="module")
async def operator(client: httpx.AsyncClient) -> dict[str, str]:
    return await login(client, "operator", DEMO_PASSWORD)


@pytest.fixture(scope="module")
def broken_route(platform: Platform) -> str:
    """A route of the platform that fails with an exception nobody handles, as a bug would."""

    async def bug() -> None:
        raise RuntimeError(f"unexpected state; password={SECRET}")

    path = "/api/v1/owasp-probe/bug"
    platform.app.router.routes.append(APIRoute(path, bug, methods=["GET"]))
    return path


def assert_hardened(response: httpx.Response, *, api: bool = True) -> None:
    where = f"{response.request.method} {response.request.url} -> {response.status_code}"
    for name, value in HEADERS.items():
        assert response.headers.get(name) == value, f"{where}: {name}"
    csp = response.headers["content-security-policy"]
    if api:
        assert "default-src 'none'" in csp, where
        assert response.headers["cache-control"] == "no-store", where
    assert "frame-ancestors 'none'" in csp, where
    assert response.headers["x-request-id"], where


async def test_every_kind_of_answer_carries_the_security_headers(
    platform: Platform,
    client: httpx.AsyncClient,
    operator: dict[str, str],
    broken_route: str,
) -> None:
    tech = await login(client, "tech", DEMO_PASSWORD)
    answers = {
        200: await client.get("/api/v1/alarms", headers=operator),
        401: await client.get("/api/v1/alarms"),
        403: await client.get("/api/v1/workorders", headers=tech),
        404: await client.get("/api/v1/alarms/no-such-alarm", headers=operator),
        405: await client.delete("/api/v1/alarms", headers=operator),
        413: await client.post(
            "/api/v1/devices/x",
            headers={**operator, "Content-Length": str(2 * 1024 * 1024)},
        ),
        422: await client.get("/api/v1/alarms", headers=operator, params={"limit": 0}),
        500: await platform.client().get(broken_route, headers=operator),
    }
    for status, response in answers.items():
        assert response.status_code == status, f"{status}: {response.text}"
        assert_hardened(response)
    assert_hardened(await client.get("/livez"), api=False)
    # The documentation page allows its own script, and still nothing from elsewhere.
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert_hardened(docs, api=False)
    assert "script-src 'self'" in docs.headers["content-security-policy"]
    assert "http" not in docs.headers["content-security-policy"]


async def test_an_unexpected_exception_is_a_generic_500_problem(
    platform: Platform, operator: dict[str, str], broken_route: str
) -> None:
    client = platform.client()
    body = assert_problem(await client.get(broken_route, headers=operator), 500)
    assert body["request_id"]
    found = [leak for leak in LEAKS if leak.lower() in str(body).lower()]
    assert found == []


async def test_a_database_failure_in_a_real_route_tells_nothing_of_the_database(
    platform: Platform, client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    """The table behind GET /api/v1/duty-centers disappears (renamed, and back): the answer is
    a generic 500, without the SQL, the table's name or the driver's message."""
    engine = engine_for(platform.database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("ALTER TABLE notify.duty_center RENAME TO duty_center_gone"))
        try:
            failed = await client.get("/api/v1/duty-centers", headers=operator)
        finally:
            async with engine.begin() as conn:
                await conn.execute(
                    text("ALTER TABLE notify.duty_center_gone RENAME TO duty_center")
                )
    finally:
        await engine.dispose()
    body = assert_problem(failed, 500)
    assert_hardened(failed)
    found = [leak for leak in LEAKS if leak.lower() in failed.text.lower()]
    assert found == [], failed.text
    assert body["request_id"] == failed.headers["x-request-id"]
    assert (await client.get("/api/v1/duty-centers", headers=operator)).status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", "/api/v1/alarms"),
        ("PATCH", "/api/v1/rules/gas-x"),
        ("PUT", "/api/v1/workorders/x"),
        ("TRACE", "/api/v1/alarms"),
        ("DELETE", "/api/v1/audit"),
    ],
)
async def test_an_unknown_method_is_a_405_problem(
    client: httpx.AsyncClient, operator: dict[str, str], method: str, path: str
) -> None:
    answer = await client.request(method, path, headers=operator)
    assert_problem(answer, 405)
    assert "allow" in answer.headers


async def test_an_unknown_path_is_our_problem_not_the_frameworks_page(
    client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    for path in ("/api/v1/no-such-thing", "/api/v2/alarms", "/admin", "/.env", "/server-status"):
        body = assert_problem(await client.get(path, headers=operator), 404)
        assert body["type"].startswith("https://riskwatch.dev/problems/"), path


async def test_cors_answers_only_the_origins_named_and_never_with_credentials(
    client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    preflight = {
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization",
    }
    allowed = await client.options("/api/v1/alarms", headers={"Origin": ORIGIN, **preflight})
    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "access-control-allow-credentials" not in allowed.headers
    for origin in ("https://evil.example.com", "null", "https://ops.example.org.evil.test"):
        refused = await client.options("/api/v1/alarms", headers={"Origin": origin, **preflight})
        assert refused.status_code == 400, origin
        assert "access-control-allow-origin" not in refused.headers, origin
        simple = await client.get("/api/v1/alarms", headers={**operator, "Origin": origin})
        assert simple.status_code == 200
        assert "access-control-allow-origin" not in simple.headers, origin
        assert_hardened(refused)


async def test_metrics_answer_only_the_scraper_with_the_token(client: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": METRICS_TOKEN}):
        assert_problem(await client.get("/metrics", headers=headers), 401)
    scraped = await client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert scraped.status_code == 200
    assert "http_requests" in scraped.text or "# HELP" in scraped.text


async def test_a_client_request_id_goes_into_logs_and_answers_only_when_well_formed(
    client: httpx.AsyncClient,
) -> None:
    kept = await client.get("/api/v1/alarms", headers={"X-Request-Id": "gw-7.batch_42"})
    assert kept.headers["x-request-id"] == kept.json()["request_id"] == "gw-7.batch_42"
    for hostile in ("abc\r\nSet-Cookie: x=1", "x" * 200, "<script>", "id with spaces"):
        answer = await client.get("/api/v1/alarms", headers={"X-Request-Id": hostile})
        assert answer.headers["x-request-id"] != hostile
        assert answer.json()["request_id"] == answer.headers["x-request-id"]


def production(**options: Any) -> EmbeddedSettings:
    return EmbeddedSettings(
        env="production",
        data_dir=Path("/nonexistent/rw-production"),  # never made: the app is not started
        feed=False,
        **options,
    )


async def test_production_serves_no_documentation_by_default() -> None:
    app = create_platform(
        production(admin_password=ADMIN_PASSWORD), "postgresql+asyncpg://unused@127.0.0.1:1/x"
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for path in ("/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"):
            assert (await client.get(path)).status_code == 404, path


def test_production_refuses_demo_accounts_and_a_weak_admin_password() -> None:
    with pytest.raises(ValidationError, match="RW_DEMO_PASSWORD"):
        production(admin_password=ADMIN_PASSWORD, demo_password=DEMO_PASSWORD)
    for weak in ("admin", "password123", "Admin-admin-1"):
        with pytest.raises(ValidationError, match="RW_ADMIN_PASSWORD"):
            production(admin_password=weak)
