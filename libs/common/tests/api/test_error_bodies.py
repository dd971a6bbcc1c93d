"""No error answer carries a stack trace, an exception's text or SQL: an unexpected exception
and a database error in a route are a generic 500 problem naming the request id, with the
headers of every answer, while the log gets the trace, once (the whole stack of `build_app`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from fastapi import APIRouter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from riskwatch.common.app import Named, Runtime, build_app
from riskwatch.common.bus import TopicSpec
from riskwatch.common.errors import PROBLEM_JSON
from riskwatch.common.settings import HttpSettings, ServiceSettings

SECRET = "hunter2-in-the-exception-text"
A_TOKEN = {"Authorization": "Bearer eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"}
LEAKS = (
    "Traceback",
    'File "',
    ".py",
    SECRET,
    "RuntimeError",
    "SELECT",
    "no_such_table",
    "asyncpg",
    "sqlalchemy",
    "postgresql",
)


def module(database_url: str) -> Any:
    router = APIRouter(prefix="/api/v1/broken")

    @router.get("/bug")
    async def bug() -> None:
        raise RuntimeError(f"unexpected state; password={SECRET}")

    @router.get("/sql")
    async def sql() -> None:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as conn:
                await conn.execute(
                    text(f"SELECT * FROM no_such_table WHERE secret = '{SECRET}'")  # noqa: S608
                )
        finally:
            await engine.dispose()

    class Module:
        name = "broken"
        migrations_dir: Path | None = None

        def __init__(self, settings: ServiceSettings) -> None:
            self.settings = settings

        def routers(self) -> Sequence[APIRouter]:
            return [router]

        def topics(self, runtime: Runtime) -> Sequence[TopicSpec]:
            return []

        async def components(self, runtime: Runtime) -> Sequence[Named]:
            return []

    return Module


@pytest.fixture
async def client(contract_db: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = ServiceSettings(http=HttpSettings(rate_per_address="off"))
    make = module(contract_db)
    app = build_app(title="broken", settings=settings, modules=[make(settings)])
    # raise_app_exceptions=False: the answer a server sends, not the exception it logs.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@pytest.mark.parametrize("route", ["bug", "sql"])
async def test_an_unexpected_error_is_a_generic_500_and_its_trace_is_logged(
    client: httpx.AsyncClient, route: str
) -> None:
    with structlog.testing.capture_logs() as logs:
        response = await client.get(f"/api/v1/broken/{route}", headers=A_TOKEN)
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["type"].endswith("/internal")
    # Answered inside the middleware: headers and request id like every other answer.
    assert body["request_id"] == response.headers["x-request-id"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    for leak in LEAKS:
        assert leak not in response.text, leak
    assert set(body) == {"type", "title", "status", "instance", "detail", "request_id"}
    logged = [e for e in logs if e["event"] == "unhandled_error"]
    assert len(logged) == 1
    assert logged[0]["exc_info"] is True  # the trace, with the exception's text, is in the log
    assert logged[0]["path"] == f"/api/v1/broken/{route}"
