"""Issue 7's "done when", as a user would try it, on the embedded platform (all five services,
identity and the audit store in one process, real PostgreSQL):

admin creates a town handler; logged in as that handler, the alarm list shows only that town;
a PUT on a rule answers 403; six wrong passwords lock the account; the audit admin sees the
account creation, the denied PUT and the failed logins; the system admin cannot read the audit
trail; `riskwatch audit verify` fails after a row is altered directly in PostgreSQL.

Then broken object-level authorization, one check per resource: the Lujiazui handler reads and
acts on Lujiazui's objects only; Zhangjiang's are not found (404), never forbidden (403), so
their existence does not leak.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from riskwatch.common.audit.verify import verify_database
from riskwatch.common.testing import admitted, app_client, engine_for, eventually, migrate
from riskwatch.embedded.platform import create_platform, migration_dirs
from riskwatch.embedded.settings import EmbeddedSettings

pytestmark = [pytest.mark.postgres]

ADMIN_PASSWORD = "Tidal-Gate-4471"
DEMO_PASSWORD = "Flood-Wall-8832"
RULE = {
    "name": "Gas leak",
    "scenario_id": "gas",
    "metric": "ch4_lel",
    "direction": "above",
    "blue": 10.0,
    "red": 50.0,
    "unit": "%LEL",
}
DEVICES = {
    "gas-wt-lujiazui": {"name": "Valve well L", "scenario_id": "gas", "town_id": "lujiazui"},
    "gas-wt-zhangjiang": {"name": "Valve well Z", "scenario_id": "gas", "town_id": "zhangjiang"},
}


@pytest.fixture(scope="module")
async def platform_db(make_database: Callable[[str], str]) -> str:
    url = make_database("access_walkthrough")
    await migrate(url, migration_dirs())
    return url


@pytest.fixture(scope="module")
async def client(platform_db: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = EmbeddedSettings(
        data_dir=Path(tempfile.mkdtemp(prefix="rw-access-")),
        feed=False,
        admin_password=ADMIN_PASSWORD,
        demo_password=DEMO_PASSWORD,
    )
    async with app_client(create_platform(settings, platform_db)) as c:
        yield c


async def token(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/token", data={"username": username, "password": password}
    )


async def login(client: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    response = await token(client, username, password)
    assert response.status_code == 200, response.text
    headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
    await admitted(client, headers)  # once the account has reached the services (ADR 0015)
    return headers


async def alarms_of(client: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/alarms", headers=headers, params={"limit": 500})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def audit(client: httpx.AsyncClient, headers: dict[str, str], **params: str) -> list[Any]:
    response = await client.get("/api/v1/audit", headers=headers, params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


@pytest.fixture(scope="module")
async def world(client: httpx.AsyncClient) -> dict[str, Any]:
    """One red alarm in each of two towns, raised by the demo's simulator account."""
    sim = await login(client, "simulator", DEMO_PASSWORD)
    put = await client.put("/api/v1/rules/gas-walkthrough", json=RULE, headers=sim)
    assert put.status_code in (200, 201), put.text
    for device_id, body in DEVICES.items():
        put = await client.put(f"/api/v1/devices/{device_id}", json=body, headers=sim)
        assert put.status_code in (200, 201), put.text
    now = datetime.now(UTC).isoformat()
    readings = [{"device_id": d, "metric": "ch4_lel", "value": 60.0, "ts": now} for d in DEVICES]
    posted = await client.post("/api/v1/readings", json=readings, headers=sim)
    assert posted.status_code == 202, posted.text

    async def both_have_orders() -> list[dict[str, Any]] | None:
        orders = (await client.get("/api/v1/workorders", headers=sim)).json()["items"]
        mine = [o for o in orders if o["device_id"] in DEVICES]
        return mine if len(mine) == 2 else None

    orders = await eventually(both_have_orders)
    alarms = [a for a in await alarms_of(client, sim) if a["device_id"] in DEVICES]

    async def first_notice(alarm_id: str) -> str | None:
        # notify and workorder take the alarm apart: its order may come before its notices.
        params = {"alarm_id": alarm_id, "limit": 1}
        found = (await client.get("/api/v1/notifications", headers=sim, params=params)).json()
        return found["items"][0]["notification_id"] if found["items"] else None

    notices = {}
    for a in alarms:
        alarm_id = a["alarm_id"]
        notices[a["town_id"]] = await eventually(lambda alarm_id=alarm_id: first_notice(alarm_id))
    by_town = {o["town_id"]: o for o in orders}
    return {
        "sim": sim,
        "alarm": {a["town_id"]: a["alarm_id"] for a in alarms},
        "order": {t: o["work_order_id"] for t, o in by_town.items()},
        "notification": notices,
    }


async def test_a_town_handler_reaches_only_its_town(
    client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    """Broken object-level authorization, per resource: the other town's objects are 404."""
    handler = await login(client, "handler.lujiazui", DEMO_PASSWORD)
    own, other = "lujiazui", "zhangjiang"
    reads = {
        "alarm": "/api/v1/alarms/{}",
        "order": "/api/v1/workorders/{}",
        "notification": "/api/v1/notifications/{}",
    }
    for kind, path in reads.items():
        mine = await client.get(path.format(world[kind][own]), headers=handler)
        assert mine.status_code == 200, (kind, mine.text)
        theirs = await client.get(path.format(world[kind][other]), headers=handler)
        assert theirs.status_code == 404, (kind, theirs.text)
    assert (await client.get(f"/api/v1/devices/gas-wt-{own}", headers=handler)).status_code == 200
    assert (await client.get(f"/api/v1/devices/gas-wt-{other}", headers=handler)).status_code == 404

    # Lists: only the own town's rows.
    for path in ("/api/v1/workorders", "/api/v1/notifications", "/api/v1/devices"):
        items = (await client.get(path, headers=handler, params={"limit": 500})).json()["items"]
        assert items, path
        assert {i["town_id"] for i in items} == {own}, path
    centers = (await client.get("/api/v1/duty-centers", headers=handler)).json()["items"]
    assert centers
    assert {c["town_id"] for c in centers} == {own}

    # Writes: acting on the other town's objects is as if they did not exist.
    accept = await client.post(
        f"/api/v1/workorders/{world['order'][other]}/accept", headers=handler
    )
    assert accept.status_code == 404
    ack = await client.post(
        f"/api/v1/notifications/{world['notification'][other]}/ack", headers=handler
    )
    assert ack.status_code == 404
    # ... and on its own town's, allowed.
    accept = await client.post(f"/api/v1/workorders/{world['order'][own]}/accept", headers=handler)
    assert accept.status_code == 200, accept.text


async def test_a_sector_head_reaches_only_its_sector_and_writes_only_there(
    client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    head = await login(client, "construction-head", DEMO_PASSWORD)
    seen = await alarms_of(client, head)
    assert seen
    assert {a["sector_id"] for a in seen} == {"construction"}
    report = await client.get(
        "/api/v1/reports/monthly",
        headers=head,
        params={"month": datetime.now(UTC).strftime("%Y-%m"), "sector_id": "emergency"},
    )
    assert report.status_code == 404
    operator = await login(client, "operator", DEMO_PASSWORD)
    # A district operator may place a device anywhere; a town handler may not write devices.
    handler = await login(client, "handler.lujiazui", DEMO_PASSWORD)
    body = {"name": "Valve well X", "scenario_id": "gas", "town_id": "zhangjiang"}
    assert (
        await client.put("/api/v1/devices/gas-wt-x", json=body, headers=handler)
    ).status_code == 403
    assert (
        await client.put("/api/v1/devices/gas-wt-x", json=body, headers=operator)
    ).status_code in (200, 201)


# Last in this module: its failed logins lock this client's address for 15 minutes.
async def test_the_issue_done_when(
    client: httpx.AsyncClient, world: dict[str, Any], platform_db: str
) -> None:
    admin = await login(client, "admin", ADMIN_PASSWORD)

    # admin creates a town handler; the first login must change the password.
    created = await client.post(
        "/api/v1/accounts",
        headers=admin,
        json={
            "username": "lujiazui-handler-01",
            "display_name": "Lujiazui handler",
            "password": "Lantern-Quay-5190",
            "roles": ["handler"],
            "scope": "town:lujiazui",
        },
    )
    assert created.status_code == 201, created.text
    first = await token(client, "lujiazui-handler-01", "Lantern-Quay-5190")
    assert first.status_code == 403
    assert first.json()["type"].endswith("/password-change-required")
    changed = await client.post(
        "/api/v1/auth/password",
        json={
            "username": "lujiazui-handler-01",
            "current_password": "Lantern-Quay-5190",
            "new_password": "Harbour-Lamp-6203",
        },
    )
    assert changed.status_code == 204, changed.text
    handler = await login(client, "lujiazui-handler-01", "Harbour-Lamp-6203")

    # The alarm list shows only that town.
    seen = await alarms_of(client, handler)
    assert {a["town_id"] for a in seen} == {"lujiazui"}
    assert world["alarm"]["lujiazui"] in {a["alarm_id"] for a in seen}

    # A PUT on a rule answers 403.
    denied = await client.put("/api/v1/rules/gas-walkthrough", json=RULE, headers=handler)
    assert denied.status_code == 403
    assert denied.headers["content-type"] == "application/problem+json"

    # Logged in before the failures below: they lock this client's address too.
    auditor = await login(client, "auditor", DEMO_PASSWORD)

    # Six wrong passwords lock the account: the sixth is refused even with the right one.
    for _ in range(5):
        assert (await token(client, "lujiazui-handler-01", "not-it")).status_code == 401
    locked = await token(client, "lujiazui-handler-01", "Harbour-Lamp-6203")
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0

    # The audit admin sees the creation, the denied PUT and the failed logins.

    async def trail_has_it_all() -> list[Any] | None:
        records = await audit(client, auditor)
        actions = {(r["actor"], r["action"], r["outcome"]) for r in records}
        wanted = {
            ("admin", "create_account", "success"),
            ("lujiazui-handler-01", "access.denied", "denied"),
            ("lujiazui-handler-01", "auth.login", "failure"),
            ("lujiazui-handler-01", "auth.lockout", "failure"),
        }
        return records if wanted <= actions else None

    try:
        records = await eventually(trail_has_it_all)
    except AssertionError:
        got = {(r["actor"], r["action"], r["outcome"]) for r in await audit(client, auditor)}
        raise AssertionError(sorted(got)) from None
    failures = [
        r
        for r in records
        if r["actor"] == "lujiazui-handler-01"
        and r["action"] == "auth.login"
        and r["outcome"] == "failure"
    ]
    assert len(failures) >= 5
    put = next(r for r in records if r["action"] == "access.denied")
    assert put["resource"] == "PUT rules/gas-walkthrough"
    assert put["roles"] == ["handler"]
    assert put["scope"] == "town:lujiazui"

    # The system admin cannot read the audit trail.
    assert (await client.get("/api/v1/audit", headers=admin)).status_code == 403

    # `riskwatch audit verify` holds, then fails after a row is altered in PostgreSQL.
    out = io.StringIO()
    assert await verify_database(platform_db, out=out) == 0, out.getvalue()
    engine = engine_for(platform_db)
    async with engine.begin() as conn:
        # What an intruder with the superuser would do: bypass the append-only trigger.
        await conn.execute(text("SET session_replication_role = replica"))
        await conn.execute(
            text(
                "UPDATE audit.record SET outcome = 'success' "
                "WHERE seq = (SELECT min(seq) FROM audit.record WHERE action = 'access.denied')"
            )
        )
    await engine.dispose()
    out = io.StringIO()
    assert await verify_database(platform_db, out=out) == 1
    assert "seq" in out.getvalue()
