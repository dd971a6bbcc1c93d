"""Errors over HTTP: a value PostgreSQL refuses is the client's 422, never a 500 with our SQL;
the OpenAPI document lists every error a route answers as problem+json."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from riskwatch.common.auth import PrincipalDep
from riskwatch.common.errors import PROBLEM_JSON, install_error_handlers, problem_responses
from riskwatch.common.inputs import Key


def make_app(engine: AsyncEngine | None = None) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/echo")
    async def echo(value: str) -> dict[str, Any]:
        """Sends `value` to PostgreSQL unchecked, as a route that forgot to check it would."""
        assert engine is not None
        async with engine.connect() as conn:
            return {"value": await conn.scalar(text("SELECT CAST(:v AS text)"), {"v": value})}

    @app.get("/count")
    async def count(value: int) -> dict[str, Any]:
        """Sends `value` as a bigint: asyncpg refuses one beyond int64 before sending it."""
        assert engine is not None
        async with engine.connect() as conn:
            return {"value": await conn.scalar(text("SELECT CAST(:v AS bigint)"), {"v": value})}

    @app.get("/broken")
    async def broken() -> None:
        assert engine is not None
        async with engine.connect() as conn:
            await conn.execute(text("SELECT * FROM no_such_table"))

    @app.get("/down")
    async def down() -> None:
        """A database nobody listens for: what a request sees while PostgreSQL restarts."""
        gone = create_async_engine("postgresql+asyncpg://postgres@127.0.0.1:9/none")
        try:
            async with gone.connect() as conn:
                await conn.execute(text("SELECT 1"))
        finally:
            await gone.dispose()

    @app.get("/things/{thing_id}")
    async def get_thing(thing_id: Key, _: PrincipalDep) -> dict[str, str]:
        return {"thing_id": thing_id}

    @app.post("/things", responses=problem_responses(409))
    async def add_thing(thing: dict[str, str], _: PrincipalDep) -> dict[str, str]:
        return thing

    @app.get("/open")
    async def open_route() -> dict[str, str]:
        return {}

    return app


@pytest.fixture
async def client(contract_db: str) -> AsyncIterator[httpx.AsyncClient]:
    engine = create_async_engine(contract_db)
    # raise_app_exceptions=False: see the 500 the client gets, as a server would send it.
    transport = httpx.ASGITransport(app=make_app(engine), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c
    await engine.dispose()


async def test_a_data_exception_is_a_422_problem_without_sql(client: httpx.AsyncClient) -> None:
    assert (await client.get("/echo", params={"value": "fine"})).json() == {"value": "fine"}
    response = await client.get("/echo", params={"value": "a\u0000b"})
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    assert problem["type"].endswith("/invalid")
    assert "SELECT" not in response.text
    assert "0x00" not in response.text  # nor what the database said


async def test_a_value_the_driver_refuses_is_a_422_problem(client: httpx.AsyncClient) -> None:
    assert (await client.get("/count", params={"value": 2**62})).status_code == 200
    response = await client.get("/count", params={"value": 2**70})
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    assert "int64" not in response.text


async def test_other_database_errors_stay_a_generic_500(client: httpx.AsyncClient) -> None:
    response = await client.get("/broken")
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM_JSON
    assert "no_such_table" not in response.text


def test_openapi_documents_every_error_as_problem_json() -> None:
    schema = make_app().openapi()
    paths = schema["paths"]
    # What a route can answer by its shape: a token (401) and its permission (403), a path
    # parameter (404), parameters or a body (422, and 400 for a body that cannot be decoded),
    # 500 anywhere, and 503 (with Retry-After) where a token guards work on the database or
    # the bus.
    assert set(paths["/things/{thing_id}"]["get"]["responses"]) == {
        "200",
        "401",
        "403",
        "404",
        "422",
        "500",
        "503",
    }
    # ... and what the route says its use case raises.
    add = paths["/things"]["post"]["responses"]
    assert set(add) == {"200", "400", "401", "403", "409", "422", "500", "503"}
    assert set(paths["/open"]["get"]["responses"]) == {"200", "500"}
    for path in paths.values():
        for operation in path.values():
            for status, response in operation["responses"].items():
                if not status.startswith("2"):
                    assert response["content"] == {
                        PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}
                    }
    components = schema["components"]["schemas"]
    assert "HTTPValidationError" not in components
    assert set(components["Problem"]["required"]) == {"type", "title", "status", "instance"}


async def test_a_database_that_is_down_is_a_503_with_retry_after(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/down")
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_JSON
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["type"].endswith("/unavailable")
    assert "127.0.0.1" not in response.text


async def test_an_outage_is_answered_like_our_own_errors_not_re_raised(
    contract_db: str,
) -> None:
    """Answered by the handler that answers our own errors: nothing reaches the server as an
    unhandled exception (which uvicorn would log with a traceback, and close the connection)."""
    engine = create_async_engine(contract_db)
    transport = httpx.ASGITransport(app=make_app(engine), raise_app_exceptions=True)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as strict:
            response = await strict.get("/down")
    finally:
        await engine.dispose()
    assert response.status_code == 503
