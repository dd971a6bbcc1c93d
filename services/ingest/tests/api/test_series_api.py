"""The raw store's read API over HTTP: a device's series, its latest readings, and counts of
flagged readings, each cut to the caller's scope (another town's device answers 404)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from riskwatch.common.bus import MemoryBus
from riskwatch.common.cli import IDENTITY_MIGRATIONS
from riskwatch.common.testing import account_bearer, app_client, migrate
from riskwatch.ingest.app import create_app
from riskwatch.ingest.module import MIGRATIONS
from riskwatch.ingest.settings import IngestSettings


@pytest.fixture(scope="module")
async def series_db(make_database: Callable[[str], str]) -> str:
    url = make_database("ingest_series")
    await migrate(url, [MIGRATIONS, IDENTITY_MIGRATIONS])
    return url


@pytest.fixture
async def app(series_db: str) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    settings = IngestSettings(
        bus="memory",
        database={"url": series_db},
        auth={"builtin_issuer": True},
        admin_password="correct horse",
    )
    app = create_app(settings, bus=MemoryBus())
    async with app_client(app) as client:
        yield app, client


async def as_(app: FastAPI, who: str, *roles: str, scope: str = "district") -> dict[str, str]:
    return await account_bearer(app, IngestSettings().auth, who, roles=roles, scope=scope)


async def test_series_latest_and_quality_within_the_callers_scope(
    app: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    api, client = app
    operator = await as_(api, "operator", "business_admin", "gateway")
    for device_id, town in (("gas-s1", "lujiazui"), ("gas-s2", "zhangjiang")):
        body = {"name": device_id, "scenario_id": "gas", "town_id": town}
        assert (
            await client.put(f"/api/v1/devices/{device_id}", json=body, headers=operator)
        ).is_success
    now = datetime.now(UTC).replace(microsecond=0)
    items = [
        {"device_id": d, "metric": "ch4_lel", "value": 3.0,
         "ts": (now - timedelta(seconds=s)).isoformat()}
        for d in ("gas-s1", "gas-s2")
        for s in (60, 50, 40, 30, 20, 10)  # six equal values: the sixth is stuck
    ]  # fmt: skip
    assert (await client.post("/api/v1/readings", json=items, headers=operator)).status_code == 202

    since = (now - timedelta(hours=1)).isoformat()
    series = await client.get(
        "/api/v1/devices/gas-s1/series",
        params={"metric": "ch4_lel", "from": since, "bucket": "1d"},
        headers=operator,
    )
    assert series.status_code == 200, series.text
    buckets = series.json()["buckets"]  # one day's bucket, or two across UTC midnight
    assert sum(b["count"] for b in buckets) == 6
    assert sum(b["flagged"] for b in buckets) == 1
    assert {b["avg"] for b in buckets} == {3.0}
    latest = await client.get("/api/v1/devices/gas-s1/latest", headers=operator)
    assert latest.json()["metrics"][0]["flags"] == ["stuck"]
    quality = await client.get(
        "/api/v1/quality", params={"from": since, "group_by": "device"}, headers=operator
    )
    assert [(g["key"], g["stuck"]) for g in quality.json()["items"]] == [
        ("gas-s1", 1),
        ("gas-s2", 1),
    ]

    town = await as_(api, "handler.lujiazui", "handler", scope="town:lujiazui")
    other = await client.get(
        "/api/v1/devices/gas-s2/series", params={"metric": "ch4_lel"}, headers=town
    )
    assert other.status_code == 404
    assert (await client.get("/api/v1/devices/gas-s2/latest", headers=town)).status_code == 404
    mine = await client.get(
        "/api/v1/quality", params={"from": since, "group_by": "device"}, headers=town
    )
    assert [g["key"] for g in mine.json()["items"]] == ["gas-s1"]

    too_many = await client.get(
        "/api/v1/devices/gas-s1/series",
        params={
            "metric": "ch4_lel",
            "from": (now - timedelta(days=30)).isoformat(),
            "bucket": "1m",
        },
        headers=operator,
    )
    assert too_many.status_code == 422
    auditor = await as_(api, "auditor", "audit_admin")
    assert (await client.get("/api/v1/quality", headers=auditor)).status_code == 403
