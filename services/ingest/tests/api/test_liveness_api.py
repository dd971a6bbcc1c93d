"""Liveness through the app on real PostgreSQL and the in-process bus: readings posted to the
readings path are noted as receipts, the watcher (its clock injected) folds them and marks a
silent device offline, DeviceStatusChanged goes out through the outbox, and
GET /api/v1/devices/online-rate answers within the caller's scope."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, text

from riskwatch.common.app import build_app
from riskwatch.common.bus import MemoryBus
from riskwatch.common.cli import IDENTITY_MIGRATIONS
from riskwatch.common.events import decode
from riskwatch.common.events.device_status import DeviceStatusChanged
from riskwatch.common.identity.module import IdentityModule
from riskwatch.common.testing import app_client, bearer, eventually, grant, migrate
from riskwatch.ingest.liveness.components import (
    WATCHER_LOCK,
    watch_once,
)
from riskwatch.ingest.liveness.models import DeviceSeen
from riskwatch.ingest.liveness.router import utc_now
from riskwatch.ingest.liveness.service import note_seen
from riskwatch.ingest.module import MIGRATIONS, IngestModule
from riskwatch.ingest.settings import IngestSettings


@pytest.fixture(scope="module")
async def api_db(make_database: Callable[[str], str]) -> str:
    url = make_database("ingest_liveness_api")
    await migrate(url, [MIGRATIONS, IDENTITY_MIGRATIONS])
    return url


@pytest.fixture
async def bus() -> MemoryBus:
    return MemoryBus()


@pytest.fixture
async def app(api_db: str, bus: MemoryBus) -> FastAPI:
    settings = IngestSettings(
        bus="memory",
        database={"url": api_db},
        mqtt={"enabled": False},
        liveness={"watch_interval_s": 3600},  # the test drives the watcher, its clock injected
    )
    return build_app(
        title="ingest with liveness",
        settings=settings,
        modules=[IngestModule(settings), IdentityModule(settings)],
        bus=bus,
    )


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(app) as c:
        await grant(app)
        await grant(app, "town-reader", roles=("tech_admin",), scope="town:zhangjiang")
        yield c


async def test_a_silent_device_goes_offline_and_the_rate_shows_it(
    app: FastAPI, client: httpx.AsyncClient, bus: MemoryBus
) -> None:
    auth = IngestSettings().auth
    client.headers.update(bearer(auth))
    profile = {
        "name": "Gas well",
        "metrics": [
            {"metric": "ch4_lel", "unit": "%LEL", "min": 0, "max": 100, "precision": 1,
             "interval_s": 10},
        ],
    }  # fmt: skip
    assert (await client.put("/api/v1/device-profiles/gas-live", json=profile)).is_success
    for device_id, town in (("live-1", "lujiazui"), ("live-2", "zhangjiang")):
        body = {"name": device_id, "scenario_id": "gas", "town_id": town, "profile_id": "gas-live"}
        assert (await client.put(f"/api/v1/devices/{device_id}", json=body)).is_success
    sent = datetime.now(UTC)
    items = [
        {"device_id": d, "metric": "ch4_lel", "value": 1.0, "ts": sent.isoformat()}
        for d in ("live-1", "live-2")
    ]
    assert (await client.post("/api/v1/readings", json=items)).status_code == 202
    # The readings path noted the receipts; the watcher's next round folds them.
    assert await watch_once(app.state.runtime.sessions, now=datetime.now(UTC)) == 2

    def status_events() -> list[DeviceStatusChanged]:
        out = []
        for record in bus.records("rw.construction.device-status"):
            data = decode(record.headers, record.value).data
            assert isinstance(data, DeviceStatusChanged)
            out.append(data)
        return out

    async def both_online() -> list[DeviceStatusChanged] | None:
        found = status_events()
        return found if len(found) == 2 else None

    online = await eventually(both_online)
    assert {(e.device.device_id, e.status) for e in online} == {
        ("live-1", "online"),
        ("live-2", "online"),
    }
    quiet = {"name": "quiet", "scenario_id": "gas", "town_id": "lujiazui", "profile_id": "gas-live"}
    assert (await client.put("/api/v1/devices/live-quiet", json=quiet)).is_success

    async def listed(liveness: str) -> list[str]:
        page = await client.get("/api/v1/devices", params={"liveness": liveness, "limit": 500})
        assert page.status_code == 200, page.text
        return sorted(d["device_id"] for d in page.json()["items"] if d["device_id"][:5] == "live-")

    assert await listed("never") == ["live-quiet"]  # watched, never heard from
    assert await listed("online") == ["live-1", "live-2"]
    later = max(e.changed_at for e in online) + timedelta(seconds=31)
    assert await watch_once(app.state.runtime.sessions, now=later) == 2

    async def both_offline() -> list[DeviceStatusChanged] | None:
        found = [e for e in status_events() if e.status == "offline"]
        return found if len(found) == 2 else None

    offline = await eventually(both_offline)
    assert await listed("offline") == ["live-1", "live-2"]
    assert await listed("online") == []
    assert {(e.device.device_id, e.status, e.previous_status) for e in offline} == {
        ("live-1", "offline", "online"),
        ("live-2", "offline", "online"),
    }

    app.dependency_overrides[utc_now] = lambda: later + timedelta(seconds=30)
    params = {
        "from": (sent - timedelta(hours=1)).isoformat(),
        "to": (sent + timedelta(hours=1)).isoformat(),
        "group_by": "town",
    }
    rate = await client.get("/api/v1/devices/online-rate", params=params)
    assert rate.status_code == 200, rate.text
    body = rate.json()
    assert [i["key"] for i in body["items"]] == ["lujiazui", "zhangjiang"]
    # Online from the reading to its deadline (30 s), offline from then until now (31 s more).
    assert [i["online_s"] for i in body["items"]] == [30, 30]
    assert [i["observed_s"] for i in body["items"]] == [61, 61]
    assert body["total"]["devices"] == 2
    assert "time-weighted" in body["definition"]

    town = await client.get(
        "/api/v1/devices/online-rate",
        params=params,
        headers=bearer(auth, "town-reader", roles=("tech_admin",), scope="town:zhangjiang"),
    )
    assert [i["key"] for i in town.json()["items"]] == ["zhangjiang"]
    backwards = await client.get(
        "/api/v1/devices/online-rate", params={**params, "to": params["from"]}
    )
    assert backwards.status_code == 422


async def test_one_watcher_works_at_a_time(app: FastAPI, client: httpx.AsyncClient) -> None:
    """While one replica's watcher holds the round, another's stands aside and folds nothing."""
    sessions = app.state.runtime.sessions
    async with sessions() as holder, holder.begin():
        await holder.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": WATCHER_LOCK})
        async with sessions() as other, other.begin():
            await note_seen(other, device_ids=["nobody"], at=datetime.now(UTC))
        assert await watch_once(sessions, now=datetime.now(UTC)) == 0
        async with sessions() as other:
            assert await other.scalar(select(func.count()).select_from(DeviceSeen)) >= 1
    await watch_once(sessions, now=datetime.now(UTC))  # the lock is free again: folded
    async with sessions() as other:
        assert await other.scalar(select(func.count()).select_from(DeviceSeen)) == 0
