"""Liveness through the app on real PostgreSQL and the in-process bus: readings (as the readings
path publishes them) reach the liveness consumer, the watcher (its clock injected) marks a
silent device offline, DeviceStatusChanged goes out through the outbox, and
GET /api/v1/devices/online-rate answers within the caller's scope.

The module is ingest's with the liveness parts added exactly as module.py is to add them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from riskwatch.common.app import Named, Runtime, build_app
from riskwatch.common.bus import MemoryBus, Record, TopicSpec
from riskwatch.common.cli import IDENTITY_MIGRATIONS
from riskwatch.common.events import decode, new_event
from riskwatch.common.events.base import DeviceRef
from riskwatch.common.events.device_status import DeviceStatusChanged
from riskwatch.common.events.envelope import encode
from riskwatch.common.events.readings import DeviceReadings, Reading, ReadingsAccepted
from riskwatch.common.identity.module import IdentityModule
from riskwatch.common.testing import app_client, bearer, eventually, grant, migrate
from riskwatch.ingest.liveness.components import (
    liveness_components,
    liveness_topics,
    watch_once,
)
from riskwatch.ingest.liveness.router import router as liveness_router
from riskwatch.ingest.liveness.router import utc_now
from riskwatch.ingest.liveness.settings import LivenessSettings
from riskwatch.ingest.module import MIGRATIONS, IngestModule
from riskwatch.ingest.settings import IngestSettings


class WithLiveness(IngestModule):
    def routers(self) -> Sequence[APIRouter]:
        return [liveness_router, *super().routers()]  # before /devices/{device_id}

    def topics(self, runtime: Runtime) -> Sequence[TopicSpec]:
        sectors = runtime.catalog.resolve_sectors(self.settings.sectors)
        return [*super().topics(runtime), *liveness_topics(runtime, sectors)]

    async def components(self, runtime: Runtime) -> Sequence[Named]:
        sectors = runtime.catalog.resolve_sectors(self.settings.sectors)
        return [
            *await super().components(runtime),
            *liveness_components(runtime, LivenessSettings(watch_interval_s=3600), sectors),
        ]


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
    settings = IngestSettings(bus="memory", database={"url": api_db}, mqtt={"enabled": False})
    return build_app(
        title="ingest with liveness",
        settings=settings,
        modules=[WithLiveness(settings), IdentityModule(settings)],
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
    # What the readings path publishes (put on the bus here, so this test does not depend on
    # how that path builds its records).
    accepted = ReadingsAccepted(
        batch_id="b-1",
        received_at=sent,
        devices=[
            DeviceReadings(
                device=DeviceRef(
                    device_id=d, sector_id="construction", scenario_id="gas", town_id=town
                ),
                readings=[Reading(metric="ch4_lel", value=1.0, ts=sent)],
            )
            for d, town in (("live-1", "lujiazui"), ("live-2", "zhangjiang"))
        ],
    )
    headers, value = encode(new_event(accepted, source="test"))
    await bus.publish([Record("rw.construction.readings", "b-1", value, headers)])

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
    later = max(e.changed_at for e in online) + timedelta(seconds=31)
    assert await watch_once(app.state.runtime.sessions, now=later) == 2

    async def both_offline() -> list[DeviceStatusChanged] | None:
        found = [e for e in status_events() if e.status == "offline"]
        return found if len(found) == 2 else None

    offline = await eventually(both_offline)
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
