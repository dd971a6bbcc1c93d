"""The body limit of POST /api/v1/readings follows RW_MAX_BATCH_ITEMS: a full batch of the
longest readings ingest accepts fits, a larger body is a 413 problem before it is read, and a
normal batch goes through as before."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from riskwatch.common.bus import MemoryBus
from riskwatch.common.cli import IDENTITY_MIGRATIONS
from riskwatch.common.errors import PROBLEM_JSON
from riskwatch.common.testing import app_client, bearer, grant, migrate
from riskwatch.ingest.app import create_app
from riskwatch.ingest.module import MIGRATIONS, IngestModule
from riskwatch.ingest.readings.router import READING_MAX_BYTES, max_body_bytes
from riskwatch.ingest.settings import IngestSettings

MAX_ITEMS = 400
LIMIT = max_body_bytes(MAX_ITEMS)


def settings(database_url: str = IngestSettings().database.url) -> IngestSettings:
    return IngestSettings(
        bus="memory",
        database={"url": database_url},
        max_batch_items=MAX_ITEMS,
        auth={"builtin_issuer": True},
        admin_password="correct horse",
    )


@pytest.fixture(scope="module")
async def limits_db(make_database: Callable[[str], str]) -> str:
    url = make_database("ingest_limits")
    await migrate(url, [MIGRATIONS, IDENTITY_MIGRATIONS])
    return url


@pytest.fixture
async def client(limits_db: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings(limits_db), bus=MemoryBus())
    async with app_client(app) as c:
        await grant(app)  # the account of `bearer`'s tokens
        c.headers.update(bearer(settings().auth))
        yield c


def reading(device_id: str, metric: str, value: float, ts: datetime) -> dict[str, object]:
    return {"device_id": device_id, "metric": metric, "value": value, "ts": ts.isoformat()}


def test_a_reading_takes_far_less_than_its_share_of_the_limit() -> None:
    now = datetime.now(UTC)
    usual = reading("gas-lujiazui-0001", "ch4_lel", 12.5, now)  # the simulator's and bench's
    longest = reading("d" * 128, "m" * 64, -1.2345678901234567e-300, now)  # the longest valid
    assert len(json.dumps(usual)) < 120
    assert len(json.dumps(longest)) <= 300
    assert len(json.dumps([longest, longest], indent=2)) / 2 < 330
    assert len(json.dumps([longest] * MAX_ITEMS)) < LIMIT
    assert READING_MAX_BYTES == LIMIT // MAX_ITEMS
    assert IngestModule(settings()).bulk_routes()[("POST", "/api/v1/readings")] == LIMIT


async def test_a_normal_batch_goes_through(client: httpx.AsyncClient) -> None:
    body = {"name": "Valve well 77", "scenario_id": "gas", "town_id": "lujiazui"}
    assert (await client.put("/api/v1/devices/gas-limit-77", json=body)).status_code in (200, 201)
    now = datetime.now(UTC)
    items = [
        reading("gas-limit-77", "ch4_lel", float(i % 9), now - timedelta(seconds=MAX_ITEMS - i))
        for i in range(MAX_ITEMS)
    ]
    response = await client.post("/api/v1/readings", json=items)
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == MAX_ITEMS


async def test_a_full_batch_of_the_longest_readings_is_not_refused_for_its_size(
    client: httpx.AsyncClient,
) -> None:
    now = datetime.now(UTC)
    items = [reading("d" * 128, "m" * 64, -1.2345678901234567e-300, now)] * MAX_ITEMS
    response = await client.post("/api/v1/readings", json=items)
    # Judged reading by reading (unknown device), not refused whole for its size.
    assert response.status_code == 422
    assert response.json()["type"].endswith("/no-reading-accepted")


async def test_a_body_beyond_the_limit_is_a_413_problem(client: httpx.AsyncClient) -> None:
    padding = " " * (LIMIT + 1)  # JSON that would parse: nothing but its size is wrong
    response = await client.post(
        "/api/v1/readings",
        content=f"[{padding}]".encode(),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["type"].endswith("/content-too-large")
    assert response.json()["max_bytes"] == LIMIT
    # The other routes keep the default limit.
    device = {"name": "x" * (1024 * 1024), "scenario_id": "gas", "town_id": "lujiazui"}
    refused = await client.put("/api/v1/devices/gas-limit-78", json=device)
    assert refused.status_code == 413
