"""Device profiles and the bulk registration over HTTP, in-process on real PostgreSQL: one
result per row, idempotent on a second run, a bad row among good ones, town scopes, limits,
problems, and the audit trail."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI

from riskwatch.common.app import ServiceModule, build_app
from riskwatch.common.bus import MemoryBus
from riskwatch.common.cli import IDENTITY_MIGRATIONS
from riskwatch.common.events import decode
from riskwatch.common.events.audit import AuditRecorded
from riskwatch.common.events.topics import AUDIT
from riskwatch.common.identity.module import IdentityModule
from riskwatch.common.testing import account_bearer, app_client, eventually, migrate
from riskwatch.ingest.devices.profiles_router import router as profiles_router
from riskwatch.ingest.devices.router import BULK_MAX_ROWS, BULK_PATH, bulk_max_body_bytes
from riskwatch.ingest.module import MIGRATIONS, IngestModule
from riskwatch.ingest.settings import IngestSettings

PROFILE = {
    "name": "Methane well sensor",
    "metrics": [
        {"metric": "ch4_lel", "unit": "%LEL", "min": 0, "max": 100, "precision": 1,
         "interval_s": 60},
        {"metric": "battery_v", "unit": "V", "min": 0, "max": 4.2, "precision": 2,
         "interval_s": 3600},
    ],
}  # fmt: skip


class Ingest(IngestModule):
    """Ingest with the profiles' router and the bulk route's body limit, as module.py mounts
    them (added here only until it does)."""

    def routers(self) -> Sequence[APIRouter]:
        found = list(super().routers())
        return found if profiles_router in found else [*found, profiles_router]

    def bulk_routes(self) -> dict[tuple[str, str], int]:
        return {("POST", BULK_PATH): bulk_max_body_bytes(), **super().bulk_routes()}


def ingest_app(settings: IngestSettings, bus: MemoryBus) -> FastAPI:
    modules: list[ServiceModule] = [Ingest(settings), IdentityModule(settings)]
    return build_app(title="ingest", settings=settings, modules=modules, bus=bus)


@pytest.fixture(scope="module")
async def bulk_db(make_database: Callable[[str], str]) -> str:
    url = make_database("ingest_bulk")
    await migrate(url, [MIGRATIONS, IDENTITY_MIGRATIONS])
    return url


@pytest.fixture
async def bus() -> MemoryBus:
    return MemoryBus()


@pytest.fixture
async def app(bulk_db: str, bus: MemoryBus) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    settings = IngestSettings(
        bus="memory",
        database={"url": bulk_db},
        auth={"builtin_issuer": True},
        admin_password="correct horse",
    )
    app = ingest_app(settings, bus)
    async with app_client(app) as client:
        yield app, client


async def as_(app: FastAPI, who: str, *roles: str, scope: str = "district") -> dict[str, str]:
    return await account_bearer(app, IngestSettings().auth, who, roles=roles, scope=scope)


def device(device_id: str, **fields: Any) -> dict[str, Any]:
    return {"device_id": device_id, "name": f"Well {device_id}", "scenario_id": "gas",
            "town_id": "lujiazui", "profile_id": "methane-v1", "lon": 121.50, "lat": 31.24,
            "address": "Lujiazui Ring Rd", "owner_unit": "street-lujiazui",
            "gateway_id": "dtu-lujiazui-1", **fields}  # fmt: skip


async def test_profiles_are_put_read_listed_and_checked(
    app: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    api, client = app
    tech = await as_(api, "tech", "tech_admin")
    put = await client.put("/api/v1/device-profiles/methane-v1", json=PROFILE, headers=tech)
    assert put.status_code in (200, 201), put.text
    assert put.json()["offline_after_intervals"] == 3
    again = await client.put("/api/v1/device-profiles/methane-v1", json=PROFILE, headers=tech)
    assert again.status_code == 200
    got = await client.get("/api/v1/device-profiles/methane-v1", headers=tech)
    assert got.json()["metrics"] == PROFILE["metrics"]
    listed = await client.get("/api/v1/device-profiles", headers=tech)
    assert "methane-v1" in [p["profile_id"] for p in listed.json()["items"]]

    bad = {**PROFILE, "metrics": [{**PROFILE["metrics"][0], "min": 100, "max": 0}]}
    refused = await client.put("/api/v1/device-profiles/bad-range", json=bad, headers=tech)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert "min must be below max" in refused.text
    slug = await client.put("/api/v1/device-profiles/Not_A_Slug!", json=PROFILE, headers=tech)
    assert slug.status_code == 422
    assert (await client.get("/api/v1/device-profiles/nope", headers=tech)).status_code == 404
    handler = await as_(api, "handler.x", "handler", scope="town:lujiazui")
    denied = await client.put("/api/v1/device-profiles/x", json=PROFILE, headers=handler)
    assert denied.status_code == 403  # no devices:write
    town_tech = await as_(api, "tech.lujiazui", "tech_admin", scope="town:lujiazui")
    district_only = await client.put("/api/v1/device-profiles/x", json=PROFILE, headers=town_tech)
    assert district_only.status_code == 403


async def test_bulk_answers_each_row_and_a_second_run_changes_nothing(
    app: tuple[FastAPI, httpx.AsyncClient], bus: MemoryBus
) -> None:
    api, client = app
    tech = await as_(api, "tech", "tech_admin")
    await client.put("/api/v1/device-profiles/methane-v1", json=PROFILE, headers=tech)
    rows: list[Any] = [device(f"gas-bulk-{i:03}") for i in range(300)]
    rows[41] = device("gas-bulk-041", lon=500)  # a bad row among good ones
    rows[42] = device("gas-bulk-042", town_id="atlantis")
    rows[43] = 7
    response = await client.post(BULK_PATH, json=rows, headers=tech)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["created"], body["updated"], body["unchanged"], body["rejected"]) == (
        297, 0, 0, 3,
    )  # fmt: skip
    rejected = [r for r in body["results"] if r["status"] == "rejected"]
    assert [(r["row"], r["device_id"], r["field"]) for r in rejected] == [
        (42, "gas-bulk-041", "lon"),
        (43, "gas-bulk-042", "town_id"),
        (44, None, None),
    ]
    assert rejected[1]["reason"] == "Unknown town 'atlantis'."
    stored = await client.get("/api/v1/devices/gas-bulk-007", headers=tech)
    assert stored.json()["profile_id"] == "methane-v1"
    assert (stored.json()["lon"], stored.json()["owner_unit"]) == (121.5, "street-lujiazui")

    again = (await client.post(BULK_PATH, json=rows, headers=tech)).json()
    assert (again["created"], again["updated"], again["unchanged"], again["rejected"]) == (
        0, 0, 297, 3,
    )  # fmt: skip
    rows[7] = device("gas-bulk-007", name="Well 7, renamed")
    third = (await client.post(BULK_PATH, json=rows, headers=tech)).json()
    assert (third["updated"], third["unchanged"]) == (1, 296)
    assert third["results"][7] == {
        "row": 8, "device_id": "gas-bulk-007", "status": "updated", "reason": None,
        "field": None,
    }  # fmt: skip

    async def audited() -> list[AuditRecorded]:
        return [
            data
            for m in bus.records(AUDIT)
            if isinstance(data := decode(m.headers, m.value).data, AuditRecorded)
            and data.action == "bulk_put_devices"
            and data.outcome == "success"
        ]

    records = await eventually(audited)
    assert records[0].actor == "tech"
    assert records[0].resource == "devices/bulk"


async def test_a_town_scoped_caller_registers_only_in_its_town(
    app: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    api, client = app
    district = await as_(api, "tech", "tech_admin")
    await client.post(
        BULK_PATH,
        json=[device("gas-town-1", profile_id=None), device("gas-town-2", town_id="huamu")],
        headers=district,
    )
    town = await as_(api, "tech.lujiazui", "tech_admin", scope="town:lujiazui")
    response = await client.post(
        BULK_PATH,
        json=[
            device("gas-town-3", town_id="huamu", profile_id=None),  # placed in another town
            device("gas-town-2", profile_id=None),  # another town's device, moved here
            device("gas-town-4", profile_id=None),
        ],
        headers=town,
    )
    assert response.status_code == 200, response.text
    statuses = [(r["device_id"], r["status"], r["reason"]) for r in response.json()["results"]]
    assert statuses == [
        ("gas-town-3", "rejected", "the device would be placed outside your scope (town:lujiazui)"),
        ("gas-town-2", "rejected", "the device id is taken outside your scope"),
        ("gas-town-4", "created", None),
    ]
    moved = await client.get("/api/v1/devices/gas-town-2", headers=district)
    assert moved.json()["town_id"] == "huamu"


async def test_requests_that_cannot_be_taken_are_problems(
    app: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    api, client = app
    tech = await as_(api, "tech", "tech_admin")
    for body, status in (([], 422), ({"device_id": "x"}, 422), ([{}] * (BULK_MAX_ROWS + 1), 413)):
        response = await client.post(BULK_PATH, json=body, headers=tech)
        assert response.status_code == status
        assert response.headers["content-type"] == "application/problem+json"
    every_row_bad = await client.post(BULK_PATH, json=[{"device_id": "a"}, 3], headers=tech)
    assert every_row_bad.status_code == 422
    assert [r["row"] for r in every_row_bad.json()["results"]] == [1, 2]
    too_big = await client.post(
        BULK_PATH,
        content=b"[" + b" " * bulk_max_body_bytes() + b"]",
        headers={**tech, "content-type": "application/json"},
    )
    assert too_big.status_code == 413
    reader = await as_(api, "lead", "tech_lead")
    assert (await client.post(BULK_PATH, json=[device("x")], headers=reader)).status_code == 403
