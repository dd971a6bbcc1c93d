"""The HTTP edge of the whole platform: the routes of /api/v1 that take no token are exactly the
ones the edge lets through without one, readings have the body limit of their batch size,
every operation documents 429 (and 413 with a body), and the documentation can be turned off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from riskwatch.common.edge import OPEN_ROUTES
from riskwatch.embedded.platform import create_platform
from riskwatch.embedded.settings import EmbeddedSettings

UNUSED = "postgresql+asyncpg://unused@127.0.0.1:1/unused"  # nothing here starts the app


def settings(**http: Any) -> EmbeddedSettings:
    # The data dir is never made: no app here is started.
    return EmbeddedSettings(data_dir=Path("/nonexistent/rw-edge"), feed=False, http=http)


def test_the_routes_without_a_token_are_the_open_ones() -> None:
    document = create_platform(settings(), UNUSED).openapi()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert "429" in responses, f"{method} {path}"
            if "requestBody" in operation:
                assert "413" in responses, f"{method} {path}"
            if path.startswith("/api/v1/") and not operation.get("security"):
                assert (method.upper(), path) in OPEN_ROUTES, f"{method} {path} needs no token"


async def test_readings_take_a_batch_and_other_routes_the_default() -> None:
    app = create_platform(settings(max_body_bytes=1024 * 1024), UNUSED)
    token = {"Authorization": "Bearer eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"}
    big = {**token, "Content-Length": str(2 * 1024 * 1024), "Content-Type": "application/json"}
    huge = {**big, "Content-Length": str(3 * 1024 * 1024)}
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        # 2 MiB: beyond the default, within 5000 readings' worth; 3 MiB: beyond both.
        assert (await client.post("/api/v1/devices", headers=big)).status_code == 413
        refused = await client.post("/api/v1/readings", headers=huge)
        assert refused.status_code == 413
        assert refused.json()["max_bytes"] == 5000 * 512
        through = await client.post("/api/v1/readings", headers=big)
        assert through.status_code != 413  # on to the route (whose token check fails here)


async def test_the_documentation_can_be_turned_off() -> None:
    for docs, status in (("on", 200), ("off", 404)):
        app = create_platform(settings(docs=docs), UNUSED)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            for path in ("/docs", "/redoc", "/openapi.json"):
                assert (await client.get(path)).status_code == status, (docs, path)
