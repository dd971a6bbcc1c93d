"""OWASP API1:2023, Broken Object Level Authorization: an API that takes an object's id from the
client and serves or changes that object without checking that the caller may reach it.

RiskWatch answers with org scopes (ADR 0013): every account has one (district, sector, town,
village); every list adds the scope to its WHERE, and every get and write loads the object and
treats one outside the scope as missing, 404, indistinguishable from an id that does not exist.
Here two towns (Lujiazui, Zhangjiang) each get a red alarm with its work order and notifications
on the embedded platform; accounts of Lujiazui try every resource that has a place, by id, by
list filter and by write, on Zhangjiang's objects. test_access_walkthrough.py shows the basic
case for a handler; this module goes through each resource, the filters, the writes' effects
and the 404's shape.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from riskwatch.common.testing import eventually

from .conftest import ADMIN_PASSWORD, DEMO_PASSWORD, assert_problem, login, open_account

pytestmark = [pytest.mark.postgres]

OWN, OTHER = "lujiazui", "zhangjiang"
RULE = {
    "name": "Gas leak",
    "scenario_id": "gas",
    "metric": "ch4_lel",
    "direction": "above",
    "blue": 10.0,
    "red": 50.0,
    "unit": "%LEL",
}
DEVICES = {town: f"gas-owasp-{town}" for town in (OWN, OTHER)}


@pytest.fixture(scope="module")
async def world(client: httpx.AsyncClient) -> dict[str, Any]:
    """A red alarm in each town (raised by the demo simulator's readings), with its work order,
    notifications, duty center and an account of each town; and the Lujiazui accounts that try
    to reach Zhangjiang's."""
    sim = await login(client, "simulator", DEMO_PASSWORD)
    admin = await login(client, "admin", ADMIN_PASSWORD)
    put = await client.put("/api/v1/rules/gas-owasp", json=RULE, headers=sim)
    assert put.status_code in (200, 201), put.text
    for town, device_id in DEVICES.items():
        body = {"name": f"Valve well {town}", "scenario_id": "gas", "town_id": town}
        put = await client.put(f"/api/v1/devices/{device_id}", json=body, headers=sim)
        assert put.status_code in (200, 201), put.text
    now = datetime.now(UTC).isoformat()
    readings = [
        {"device_id": d, "metric": "ch4_lel", "value": 60.0, "ts": now} for d in DEVICES.values()
    ]
    posted = await client.post("/api/v1/readings", json=readings, headers=sim)
    assert posted.status_code == 202, posted.text

    async def orders_of_both() -> dict[str, dict[str, Any]] | None:
        items = (await client.get("/api/v1/workorders", headers=sim)).json()["items"]
        mine = {o["town_id"]: o for o in items if o["device_id"] in DEVICES.values()}
        return mine if len(mine) == 2 else None

    orders = await eventually(orders_of_both)

    async def notifications_of_both() -> dict[str, str] | None:
        found = {}
        for town, order in orders.items():
            params = {"alarm_id": order["alarm_id"]}
            items = (await client.get("/api/v1/notifications", headers=sim, params=params)).json()
            if items["items"]:
                found[town] = items["items"][0]["notification_id"]
        return found if len(found) == 2 else None

    notifications = await eventually(notifications_of_both)
    centers = {}
    for town in (OWN, OTHER):
        listed = await client.get("/api/v1/duty-centers", headers=sim, params={"town_id": town})
        centers[town] = listed.json()["items"][0]["duty_center_id"]
    return {
        "sim": sim,
        "admin": admin,
        "alarm": {t: o["alarm_id"] for t, o in orders.items()},
        "order": {t: o["work_order_id"] for t, o in orders.items()},
        "notification": notifications,
        "device": DEVICES,
        "center": centers,
        "account": {OWN: "handler.lujiazui", OTHER: "handler.zhangjiang"},
        # Lujiazui's accounts: a handler acts, a leader reads everything operational (reports
        # included), a technical administrator writes devices, a system administrator manages
        # the town's accounts.
        "handler": await login(client, "handler.lujiazui", DEMO_PASSWORD),
        "leader": await open_account(
            client, admin, "leader.lujiazui", roles=("leader",), scope=f"town:{OWN}"
        ),
        "tech": await open_account(
            client, admin, "tech.lujiazui", roles=("tech_admin",), scope=f"town:{OWN}"
        ),
        "town_admin": await open_account(
            client, admin, "admin.lujiazui", roles=("system_admin",), scope=f"town:{OWN}"
        ),
    }


# What the reader of each resource reads it at, by the key of its id in `world`.
READS = {
    "alarm": ("leader", "/api/v1/alarms/{}"),
    "order": ("handler", "/api/v1/workorders/{}"),
    "notification": ("handler", "/api/v1/notifications/{}"),
    "device": ("handler", "/api/v1/devices/{}"),
    "center": ("handler", "/api/v1/duty-centers/{}"),
    "center-on-duty": ("handler", "/api/v1/duty-centers/{}/on-duty"),
    "alarm-trail": ("leader", "/api/v1/reports/alarms/{}"),
    "account": ("town_admin", "/api/v1/accounts/{}"),
}
IDS = {"center-on-duty": "center", "alarm-trail": "alarm"}


@pytest.mark.parametrize("resource", list(READS))
async def test_another_towns_object_is_not_found_like_one_that_does_not_exist(
    client: httpx.AsyncClient, world: dict[str, Any], resource: str
) -> None:
    reader, path = READS[resource]
    headers = world[reader]
    ids = world[IDS.get(resource, resource)]

    # The own town's object is readable, and the other's exists: the district reads it.
    # (Reporting builds the alarm trail from events: wait for it.)
    district = world["admin"] if resource == "account" else world["sim"]
    for town, who in ((OWN, headers), (OTHER, district)):
        await eventually(lambda town=town, who=who: _readable(client, path.format(ids[town]), who))

    theirs = assert_problem(await client.get(path.format(ids[OTHER]), headers=headers), 404)
    made_up = assert_problem(await client.get(path.format("no-such-id-42"), headers=headers), 404)
    # Nothing tells an id outside the scope from one that does not exist.
    assert (theirs["type"], theirs["title"]) == (made_up["type"], made_up["title"])
    assert theirs.get("detail", "").replace(ids[OTHER], "?") == made_up.get("detail", "").replace(
        "no-such-id-42", "?"
    )


async def _readable(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> bool:
    return (await client.get(path, headers=headers)).status_code == 200


# Lists, filtered by what names the other town's objects: (reader, path, params, place field).
LISTS = [
    ("leader", "/api/v1/alarms", {"alarm_id": "{alarm}"}, "town_id"),
    ("leader", "/api/v1/alarms", {"device_id": "{device}"}, "town_id"),
    ("handler", "/api/v1/workorders", {"alarm_id": "{alarm}"}, "town_id"),
    ("handler", "/api/v1/notifications", {"alarm_id": "{alarm}"}, "town_id"),
    ("handler", "/api/v1/notifications", {"duty_center_id": "{center}"}, "town_id"),
    ("handler", "/api/v1/devices", {"town_id": OTHER}, "town_id"),
    ("handler", "/api/v1/duty-centers", {"town_id": OTHER}, "town_id"),
    ("town_admin", "/api/v1/accounts", {"scope": f"town:{OTHER}"}, "scope"),
]


@pytest.mark.parametrize(
    ("reader", "path", "params", "place"),
    LISTS,
    ids=[f"{p}?{next(iter(q))}" for _, p, q, _ in LISTS],
)
async def test_lists_leave_out_another_towns_objects_even_when_filtered_for_them(
    client: httpx.AsyncClient,
    world: dict[str, Any],
    reader: str,
    path: str,
    params: dict[str, str],
    place: str,
) -> None:
    headers = world[reader]
    values = {k: world[k][OTHER] for k in ("alarm", "device", "center")}
    asked = {name: value.format(**values) for name, value in params.items()}
    # The district finds the other town's objects with this filter: the filter works.
    district = world["admin"] if reader == "town_admin" else world["sim"]
    found = await client.get(path, headers=district, params={**asked, "limit": 500})
    assert found.status_code == 200, found.text
    assert found.json()["items"], f"{path} {asked}: the district sees nothing"

    filtered = await client.get(path, headers=headers, params={**asked, "limit": 500})
    assert filtered.status_code == 200, filtered.text
    assert filtered.json()["items"] == []

    unfiltered = await client.get(path, headers=headers, params={"limit": 500})
    assert unfiltered.status_code == 200, unfiltered.text
    places = {item[place] for item in unfiltered.json()["items"]}
    assert places, f"{path}: the town's own objects are missing"
    # The town's own objects, or (accounts) the town's and its villages'.
    assert all(p in (OWN, f"town:{OWN}") or str(p).startswith("village:") for p in places), places


async def test_writes_on_another_towns_objects_are_not_found_and_change_nothing(
    client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    handler, town_admin = world["handler"], world["town_admin"]
    order, note = world["order"][OTHER], world["notification"][OTHER]
    account = world["account"][OTHER]
    writes = [
        (handler, "post", f"/api/v1/workorders/{order}/accept", {}),
        (handler, "post", f"/api/v1/workorders/{order}/return", {"json": {"reason": "x"}}),
        (handler, "post", f"/api/v1/workorders/{order}/false-alarm", {"json": {"reason": "x"}}),
        (handler, "post", f"/api/v1/notifications/{note}/ack", {}),
        (town_admin, "patch", f"/api/v1/accounts/{account}", {"json": {"disabled": True}}),
        (town_admin, "patch", f"/api/v1/accounts/{account}", {"json": {"scope": f"town:{OWN}"}}),
        (
            town_admin,
            "post",
            f"/api/v1/accounts/{account}/password",
            {"json": {"password": "Stolen-Reset-7710"}},
        ),
        (town_admin, "delete", f"/api/v1/accounts/{account}/totp", {}),
    ]
    for headers, method, path, arguments in writes:
        refused = await client.request(method, path, headers=headers, **arguments)
        assert_problem(refused, 404)

    # As the district sees them, nothing changed.
    sim, admin = world["sim"], world["admin"]
    seen = (await client.get(f"/api/v1/workorders/{order}", headers=sim)).json()
    assert (seen["status"], seen["accepted_by"], seen["closed_by"]) == ("dispatched", None, None)
    seen = (await client.get(f"/api/v1/notifications/{note}", headers=sim)).json()
    assert seen["acknowledged_by"] is None
    seen = (await client.get(f"/api/v1/accounts/{account}", headers=admin)).json()
    assert (seen["disabled"], seen["scope"], seen["must_change_password"]) == (
        False,
        f"town:{OTHER}",
        False,
    )
    # ... and its owner still logs in with its own password.
    await login(client, account, DEMO_PASSWORD)


async def test_an_object_of_another_town_cannot_be_taken_over_by_an_upsert(
    client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    """PUT creates or replaces: replacing another town's device, even to move it into one's
    own town, is not found; placing a new one in another town is forbidden (the caller named
    the place itself, nothing leaks)."""
    tech = world["tech"]
    device = world["device"][OTHER]
    body = {"name": "Mine now", "scenario_id": "gas", "town_id": OWN}
    assert_problem(await client.put(f"/api/v1/devices/{device}", json=body, headers=tech), 404)
    seen = (await client.get(f"/api/v1/devices/{device}", headers=world["sim"])).json()
    assert (seen["town_id"], seen["name"]) == (OTHER, f"Valve well {OTHER}")

    elsewhere = {"name": "Planted", "scenario_id": "gas", "town_id": OTHER}
    planted = await client.put("/api/v1/devices/gas-owasp-planted", json=elsewhere, headers=tech)
    assert_problem(planted, 403)
    assert_problem(await client.get("/api/v1/devices/gas-owasp-planted", headers=world["sim"]), 404)
    # Its own town's devices it may write.
    own = {"name": "Valve well L2", "scenario_id": "gas", "town_id": OWN}
    made = await client.put("/api/v1/devices/gas-owasp-l2", json=own, headers=tech)
    assert made.status_code in (200, 201), made.text


async def test_a_sector_account_cannot_take_over_another_sectors_rule(
    client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    """Rules are read district-wide but written per sector: an emergency-sector operator may
    not rewrite the construction sector's gas rule, not even into its own scenario."""
    emergency = await open_account(
        client, world["admin"], "ops.emergency", roles=("business_admin",), scope="sector:emergency"
    )
    hijack = {**RULE, "scenario_id": "flood-typhoon", "red": 1000.0}
    assert_problem(await client.put("/api/v1/rules/gas-owasp", json=hijack, headers=emergency), 403)
    seen = (await client.get("/api/v1/rules/gas-owasp", headers=world["sim"])).json()
    assert (seen["scenario_id"], seen["red"]) == ("gas", 50.0)
    own = {**RULE, "scenario_id": "flood-typhoon", "metric": "water_level_m", "unit": "m"}
    made = await client.put("/api/v1/rules/flood-owasp", json=own, headers=emergency)
    assert made.status_code in (200, 201), made.text
