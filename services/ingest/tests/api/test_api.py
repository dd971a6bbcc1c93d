"""The ingest HTTP API in-process on real PostgreSQL: auth, the device registry, and the
readings endpoint's per-item verdicts and problem+json."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiokafka.errors import KafkaConnectionError
from sqlalchemy import text

from riskwatch.common.bus import MemoryBus, Position, Record
from riskwatch.common.cli import IDENTITY_MIGRATIONS
from riskwatch.common.events import decode
from riskwatch.common.events.readings import ReadingsAccepted
from riskwatch.common.testing import (
    account_bearer,
    app_client,
    bearer,
    engine_for,
    eventually,
    grant,
    migrate,
)
from riskwatch.ingest.app import create_app
from riskwatch.ingest.module import MIGRATIONS
from riskwatch.ingest.settings import IngestSettings


@pytest.fixture(scope="module")
async def api_db(make_database: Callable[[str], str]) -> str:
    url = make_database("ingest_api")
    await migrate(url, [MIGRATIONS, IDENTITY_MIGRATIONS])
    return url


@pytest.fixture
async def bus() -> MemoryBus:
    return MemoryBus()


@pytest.fixture
async def client(api_db: str, bus: MemoryBus) -> AsyncIterator[httpx.AsyncClient]:
    settings = IngestSettings(
        bus="memory",
        database={"url": api_db},
        max_batch_items=600,
        auth={"builtin_issuer": True},
        admin_password="correct horse",
    )
    app = create_app(settings, bus=bus)
    async with app_client(app) as c:
        await grant(app)  # the account of `bearer`'s tokens
        yield c


async def login(client: httpx.AsyncClient, password: str = "correct horse") -> httpx.Response:
    return await client.post("/api/v1/auth/token", data={"username": "admin", "password": password})


async def test_the_builtin_issuer_gives_a_token_that_opens_the_api(
    client: httpx.AsyncClient,
) -> None:
    assert (await login(client, "wrong")).status_code == 401
    token = (await login(client)).json()["access_token"]
    assert (await client.get("/api/v1/catalog")).status_code == 401
    as_admin = {"Authorization": f"Bearer {token}"}

    async def admitted() -> httpx.Response | None:
        # Once admin's snapshot, staged by the issuer at start, has reached ingest's accounts.
        response = await client.get("/api/v1/catalog", headers=as_admin)
        return response if response.status_code != 401 else None

    ok = await eventually(admitted)
    assert ok.status_code == 200
    assert ok.json()["sectors"]
    # admin is the system administrator: accounts and settings, not the business.
    denied = await client.get("/api/v1/devices", headers=as_admin)
    assert denied.status_code == 403
    assert denied.json()["type"].endswith("/forbidden")


async def test_device_registration_is_idempotent_and_checked_against_the_catalog(
    client: httpx.AsyncClient,
) -> None:
    client.headers.update(bearer(IngestSettings().auth))
    body = {"name": "Valve well 9", "scenario_id": "gas", "town_id": "huamu"}
    assert (await client.put("/api/v1/devices/gas-api-9", json=body)).status_code == 201
    again = await client.put("/api/v1/devices/gas-api-9", json=body)
    assert again.status_code == 200
    assert again.json()["sector_id"] == "construction"
    bad = await client.put("/api/v1/devices/gas-api-10", json={**body, "scenario_id": "ufo"})
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    assert bad.json()["field"] == "scenario_id"


async def test_one_bad_reading_in_500_rejects_only_that_reading(
    client: httpx.AsyncClient, bus: MemoryBus
) -> None:
    client.headers.update(bearer(IngestSettings().auth))
    await client.put(
        "/api/v1/devices/gas-api-1",
        json={"name": "Valve well 1", "scenario_id": "gas", "town_id": "lujiazui"},
    )
    now = datetime.now(UTC)
    items: list[dict[str, object]] = [
        {
            "device_id": "gas-api-1",
            "metric": "ch4_lel",
            "value": float(i % 7),
            "ts": (now - timedelta(seconds=500 - i)).isoformat(),
        }
        for i in range(500)
    ]
    items[137] = {**items[137], "value": "high"}
    response = await client.post("/api/v1/readings", json=items)
    assert response.status_code == 202
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (499, 1)
    assert body["errors"] == [
        {"index": 137, "reason": "invalid_value", "detail": "value must be a number, got string"}
    ]
    [record] = bus.records("rw.construction.readings")  # one record for the one device
    event = decode(record.headers, record.value).data
    assert isinstance(event, ReadingsAccepted)
    [group] = event.devices
    assert group.device.device_id == "gas-api-1"
    assert len(group.readings) == 499


async def test_batches_that_cannot_be_accepted_are_problems(client: httpx.AsyncClient) -> None:
    client.headers.update(bearer(IngestSettings().auth))
    nothing = await client.post(
        "/api/v1/readings",
        json=[{"device_id": "ghost", "metric": "m", "value": 1, "ts": "2026-01-01T00:00:00Z"}],
    )
    assert nothing.status_code == 422
    assert nothing.json()["errors"][0]["reason"] == "unknown_device"
    too_many = await client.post("/api/v1/readings", json=[{}] * 601)
    assert too_many.status_code == 413
    assert too_many.json()["max_items"] == 600
    not_a_list = await client.post("/api/v1/readings", json={"device_id": "x"})
    assert not_a_list.status_code == 422
    assert not_a_list.headers["content-type"] == "application/problem+json"
    garbage = await client.post(
        "/api/v1/readings", content=b"{oops", headers={"content-type": "application/json"}
    )
    assert garbage.status_code == 422


async def test_the_catalog_is_served(client: httpx.AsyncClient) -> None:
    client.headers.update(bearer(IngestSettings().auth))
    sectors = (await client.get("/api/v1/catalog/sectors")).json()
    assert [s["id"] for s in sectors] == [
        "emergency",
        "construction",
        "ecology",
        "energy",
        "public-security",
        "market",
        "power",
    ]


async def test_a_nul_in_a_device_name_or_filter_is_a_problem_not_a_crash(
    client: httpx.AsyncClient,
) -> None:
    client.headers.update(bearer(IngestSettings().auth))
    body = {"name": "Valve well \u0000", "scenario_id": "gas", "town_id": "huamu"}
    for response in (
        await client.put("/api/v1/devices/gas-api-nul", json=body),
        await client.put("/api/v1/devices/gas-api-nul", json={**body, "name": "Valve\nwell"}),
        await client.get("/api/v1/devices", params={"town_id": "huamu\u0000"}),
    ):
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/invalid")
    assert (await client.get("/api/v1/devices/gas-api-nul")).status_code == 404


async def test_readings_no_query_can_take_are_rejected_alone(client: httpx.AsyncClient) -> None:
    client.headers.update(bearer(IngestSettings().auth))
    await client.put(
        "/api/v1/devices/gas-api-2",
        json={"name": "Valve well 2", "scenario_id": "gas", "town_id": "lujiazui"},
    )
    ts = datetime.now(UTC).isoformat()
    good = f'{{"device_id": "gas-api-2", "metric": "ch4_lel", "value": 1.5, "ts": "{ts}"}}'
    # Raw JSON: a 400-digit integer literal and a NUL escape, as a client may really send them.
    huge = good.replace("1.5", "9" * 400)
    nul_device = good.replace('"gas-api-2"', '"gas-api-2\\u0000"')
    nul_metric = good.replace('"ch4_lel"', '"ch4\\u0000"')
    content = f"[{good}, {huge}, {nul_device}, {nul_metric}]".encode()
    response = await client.post(
        "/api/v1/readings", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 202
    body = response.json()
    assert (body["accepted"], body["rejected"]) == (1, 3)
    assert [(e["index"], e["reason"]) for e in body["errors"]] == [
        (1, "invalid_value"),
        (2, "invalid_device_id"),
        (3, "invalid_metric"),
    ]


async def test_a_nul_in_the_login_username_is_a_problem(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/token", data={"username": "ad\u0000min", "password": "correct horse"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert (await login(client)).status_code == 200  # the form still logs the admin in


async def test_a_sector_over_its_budget_gets_429_with_retry_after(
    api_db: str, bus: MemoryBus
) -> None:
    settings = IngestSettings(
        bus="memory", database={"url": api_db}, sector_readings_per_s={"emergency": 5}
    )
    app = create_app(settings, bus=bus)
    async with app_client(app) as client:
        client.headers.update(await account_bearer(app, settings.auth))
        body = {"name": "River gauge 1", "scenario_id": "flood-typhoon", "town_id": "chuansha"}
        assert (await client.put("/api/v1/devices/flood-api-1", json=body)).status_code in (
            200,
            201,
        )
        now = datetime.now(UTC)
        items = [
            {
                "device_id": "flood-api-1",
                "metric": "water_level_m",
                "value": 2.0,
                "ts": (now - timedelta(seconds=i)).isoformat(),
            }
            for i in range(1, 5)
        ]
        assert (await client.post("/api/v1/readings", json=items)).status_code == 202
        more = [
            {**it, "ts": (now - timedelta(seconds=10 + i)).isoformat()}
            for i, it in enumerate(items)
        ]
        refused = await client.post("/api/v1/readings", json=more)
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert int(refused.headers["retry-after"]) >= 1
        problem = refused.json()
        assert (problem["sector_id"], problem["readings_per_s"]) == ("emergency", 5)
        assert problem["type"].endswith("/sector-over-budget")


async def test_a_budget_for_an_unknown_sector_stops_the_service_at_start(api_db: str) -> None:
    settings = IngestSettings(
        bus="memory", database={"url": api_db}, sector_readings_per_s={"floods": 5}
    )
    with pytest.raises(ValueError, match="unknown sectors"):
        async with app_client(create_app(settings, bus=MemoryBus())):
            pass


class SilentBus(MemoryBus):
    """A broker that takes the connection and never acknowledges (what an outage looks like
    to a producer until its own timeout)."""

    async def publish(self, records: Sequence[Record]) -> list[Position]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


class RefusingBus(MemoryBus):
    """A broker that refuses the records (what aiokafka raises when no broker is reachable)."""

    async def publish(self, records: Sequence[Record]) -> list[Position]:
        raise KafkaConnectionError("Unable to bootstrap from [('127.0.0.1', 9092)]")


@pytest.mark.parametrize("bus_class", [SilentBus, RefusingBus])
async def test_a_bus_that_does_not_take_the_batch_is_503_and_nothing_is_stored(
    api_db: str, bus_class: type[MemoryBus]
) -> None:
    """ADR 0004's promise: the client learns the batch was not taken, and nothing is kept."""
    settings = IngestSettings(bus="memory", database={"url": api_db}, publish_timeout_s=0.3)
    app = create_app(settings, bus=bus_class())
    async with app_client(app) as client:
        client.headers.update(await account_bearer(app, settings.auth))
        body = {"name": "Valve well 77", "scenario_id": "gas", "town_id": "huamu"}
        assert (await client.put("/api/v1/devices/gas-api-77", json=body)).status_code in (
            200,
            201,
        )
        ts = datetime.now(UTC).isoformat()
        item = {"device_id": "gas-api-77", "metric": "ch4_lel", "value": 1.0, "ts": ts}
        refused = await client.post("/api/v1/readings", json=[item])
        assert refused.status_code == 503
        assert refused.headers["content-type"] == "application/problem+json"
        assert int(refused.headers["retry-after"]) >= 1
        assert "nothing" in refused.json()["detail"]
        listed = await client.get("/api/v1/devices/gas-api-77")
        assert listed.status_code == 200
    engine = engine_for(api_db)
    async with engine.connect() as conn:
        stored = await conn.scalar(
            text("SELECT count(*) FROM ingest.reading WHERE device_id = 'gas-api-77'")
        )
    await engine.dispose()
    assert stored == 0
