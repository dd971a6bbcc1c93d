"""OWASP API3:2023, Broken Object Property Level Authorization: answers that expose properties
the caller should not see (a password hash, a second factor's secret), and writes that set
properties the caller should not set (mass assignment: a hash, a session epoch, a username, who
accepted a work order; an account's roles or scope by whoever may not grant them).

RiskWatch answers with separate API models for reads and writes (`XRead` lists what may be shown,
never a hash or a secret), write models that refuse unknown properties (`extra="forbid"`: a 422,
not a silent drop), server-managed fields that no write model has, one permission for every
account write (`accounts:write`, administrators only), and the rule that an administrator
grants no scope wider than its own (ADR 0013).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from riskwatch.common.testing import eventually

from .conftest import (
    ADMIN_PASSWORD,
    DEMO_PASSWORD,
    ME,
    OWN_PASSWORD,
    PASSWORD,
    Platform,
    assert_problem,
    login,
    open_account,
    token,
)

pytestmark = [pytest.mark.postgres]

# What no answer may hold: argon2 hashes and the names of columns that hold secrets.
SECRET_MARKS = ("argon2", "$argon2", "password_hash", "totp_secret", "totp_pending", "private_pem")


def secret_marks(text: str, *secrets: str) -> list[str]:
    return [mark for mark in (*SECRET_MARKS, *secrets) if mark.lower() in text.lower()]


@pytest.fixture(scope="module")
async def admin(client: httpx.AsyncClient) -> dict[str, str]:
    return await login(client, "admin", ADMIN_PASSWORD)


@pytest.fixture(scope="module")
def openapi(platform: Platform, client: httpx.AsyncClient) -> dict[str, Any]:
    document: dict[str, Any] = platform.app.openapi()
    return document


async def test_no_answer_about_accounts_or_in_the_trail_holds_a_secret(
    platform: Platform,
    client: httpx.AsyncClient,
    admin: dict[str, str],
    openapi: dict[str, Any],
) -> None:
    """Every account answer (create, read, list, change, reset, /me, login) and every record
    of the audit trail about them, scanned for hashes, secrets and the passwords themselves,
    after an account has set a password and enrolled a second factor."""
    answers: list[httpx.Response] = []
    user = "secretive.handler"
    created = await client.post(
        "/api/v1/accounts",
        headers=admin,
        json={
            "username": user,
            "display_name": "Secretive",
            "password": "Lantern-Quay-5190",
            "roles": ["handler"],
            "scope": "town:lujiazui",
            "phone": "13800000001",
        },
    )
    answers.append(created)
    answers.append(
        await client.post(
            PASSWORD,
            json={
                "username": user,
                "current_password": "Lantern-Quay-5190",
                "new_password": OWN_PASSWORD,
            },
        )
    )
    issued = await token(client, user, OWN_PASSWORD)
    answers.append(issued)
    headers = {"Authorization": f"Bearer {issued.json()['access_token']}"}
    enrolment = await client.post("/api/v1/auth/totp", headers=headers)
    assert enrolment.status_code == 200, enrolment.text
    totp_secret = enrolment.json()["secret"]  # shown to its owner this once, then never again
    security = await login(client, "security", DEMO_PASSWORD)
    for who in (admin, security):
        answers.append(await client.get("/api/v1/accounts", headers=who, params={"limit": 500}))
        answers.append(await client.get(f"/api/v1/accounts/{user}", headers=who))
    answers.append(
        await client.patch(f"/api/v1/accounts/{user}", headers=admin, json={"phone": None})
    )
    answers.append(await client.get(ME, headers=headers))
    answers.append(await client.get(ME, headers=admin))
    answers.append(
        await client.post(
            f"/api/v1/accounts/{user}/password", headers=admin, json={"password": "Reset-Pass-4417"}
        )
    )
    answers.append(await client.delete(f"/api/v1/accounts/{user}/totp", headers=admin))
    passwords = ("Lantern-Quay-5190", OWN_PASSWORD, "Reset-Pass-4417", ADMIN_PASSWORD)
    for answer in answers:
        assert answer.status_code < 300, f"{answer.request.url} {answer.text}"
        found = secret_marks(answer.text, totp_secret, *passwords)
        assert not found, f"{answer.request.method} {answer.request.url}: {found}"

    # An account as read has exactly the documented properties, none beside them.
    documented = set(openapi["components"]["schemas"]["AccountRead"]["properties"])
    for item in answers[3].json()["items"]:
        assert set(item) == documented

    # The trail records the creation, the change, the enrolment and the reset: without them.
    auditor = await login(client, "auditor", DEMO_PASSWORD)

    async def trail_about_the_account() -> list[dict[str, Any]] | None:
        listed = await client.get(
            "/api/v1/audit", headers=auditor, params={"resource": f"accounts/{user}", "limit": 500}
        )
        records = listed.json()["items"]
        return records if len(records) >= 3 else None

    records = await eventually(trail_about_the_account)
    everything = await client.get("/api/v1/audit", headers=auditor, params={"limit": 500})
    for listed in (str(records), everything.text):
        assert not secret_marks(listed, totp_secret, *passwords)


# Properties only the server sets, each sent in an account change on its own.
SERVER_MANAGED = {
    "password_hash": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
    "session_epoch": 0,
    "must_change_password": False,
    "username": "renamed",
    "created_by": "someone",
    "created_at": "2020-01-01T00:00:00Z",
    "password": "Chosen-By-Me-4418",
    "password_changed_at": "2020-01-01T00:00:00Z",
    "totp_secret": "JBSWY3DPEHPK3PXP",
    "published_digest": "0" * 64,
}


@pytest.mark.parametrize("field", list(SERVER_MANAGED))
async def test_an_account_change_refuses_properties_the_server_manages(
    client: httpx.AsyncClient, admin: dict[str, str], field: str
) -> None:
    before = (await client.get("/api/v1/accounts/handler.zhangjiang", headers=admin)).json()
    body = {"display_name": "Renamed handler", field: SERVER_MANAGED[field]}
    refused = assert_problem(
        await client.patch("/api/v1/accounts/handler.zhangjiang", headers=admin, json=body), 422
    )
    assert field in str(refused["errors"])
    after = (await client.get("/api/v1/accounts/handler.zhangjiang", headers=admin)).json()
    assert after == before  # the whole change refused, the display name too


async def test_a_new_account_cannot_be_born_without_a_password_change_or_disabled(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    base = {
        "username": "massassigned",
        "display_name": "Mass assigned",
        "password": "Lantern-Quay-5190",
        "roles": ["handler"],
        "scope": "town:lujiazui",
    }
    for extra in (
        {"must_change_password": False},
        {"disabled": False, "session_epoch": 7},
        {"password_hash": SERVER_MANAGED["password_hash"]},
        {"created_by": "security"},
    ):
        refused = await client.post("/api/v1/accounts", headers=admin, json={**base, **extra})
        assert_problem(refused, 422)
    assert_problem(await client.get("/api/v1/accounts/massassigned", headers=admin), 404)


async def test_business_writes_refuse_server_managed_properties(
    client: httpx.AsyncClient,
) -> None:
    """Who accepted a work order, a device's sector, a rule's version: set by the server from
    the caller, the catalog and the state, never taken from a body."""
    sim = await login(client, "simulator", DEMO_PASSWORD)
    device = {"name": "Valve well", "scenario_id": "gas", "town_id": "lujiazui"}
    for extra in ({"sector_id": "emergency"}, {"device_id": "other"}, {"created_at": "2020-01-01"}):
        put = await client.put("/api/v1/devices/gas-mass-1", json={**device, **extra}, headers=sim)
        assert_problem(put, 422)
    rule = {"name": "Gas", "scenario_id": "gas", "metric": "ch4_lel", "red": 50.0, "unit": "%"}
    for extra in ({"rule_id": "other"}, {"version": 99}, {"updated_by": "leader"}):
        put = await client.put("/api/v1/rules/gas-mass-1", json={**rule, **extra}, headers=sim)
        assert_problem(put, 422)
    for path, body in (
        ("accept", {"note": "on my way", "accepted_by": "handler.zhangjiang"}),
        ("clear", {"note": "done", "status": "closed"}),
        ("close", {"note": "done", "closed_by": "leader"}),
    ):
        refused = await client.post(f"/api/v1/workorders/any-id/{path}", json=body, headers=sim)
        assert_problem(refused, 422)  # before the id is even looked up
    # A reading names its device; its place comes from the device, never from the reading.
    put = await client.put("/api/v1/devices/gas-mass-2", json=device, headers=sim)
    assert put.status_code in (200, 201), put.text
    reading = {"device_id": "gas-mass-2", "metric": "ch4_lel", "value": 1.0}
    reading["ts"] = datetime.now(UTC).isoformat()
    posted = await client.post(
        "/api/v1/readings", json=[{**reading, "sector_id": "emergency"}], headers=sim
    )
    refused = assert_problem(posted, 422)
    assert refused["errors"][0]["detail"] == "unknown field(s): sector_id"


def _json_bodies(openapi: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in openapi["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                yield method, path, content["application/json"]["schema"]


def test_every_json_body_refuses_properties_it_does_not_name(openapi: dict[str, Any]) -> None:
    """The document says so for every object body (the readings batch is an array whose
    items ingest checks one by one, above)."""
    schemas = openapi["components"]["schemas"]
    checked = []
    for method, path, schema in _json_bodies(openapi):
        refs = [s["$ref"] for s in [schema, *schema.get("anyOf", [])] if "$ref" in s]
        if not refs:
            assert schema.get("type") == "array", f"{method} {path}"
            continue
        for ref in refs:
            target = schemas[ref.rsplit("/", 1)[-1]]
            assert target.get("additionalProperties") is False, f"{method.upper()} {path}"
        checked.append((method, path))
    assert len(checked) >= 10, checked


async def test_only_administrators_set_roles_and_scope(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    handler = await login(client, "handler.lujiazui", DEMO_PASSWORD)
    security = await login(client, "security", DEMO_PASSWORD)  # reads accounts, writes none
    for who in (handler, security):
        for change in ({"roles": ["system_admin"]}, {"scope": "district"}, {"disabled": False}):
            refused = await client.patch(
                "/api/v1/accounts/handler.lujiazui", headers=who, json=change
            )
            assert_problem(refused, 403)
    # The caller's own account is read, never written, through /me.
    for method in ("put", "patch", "post"):
        assert_problem(
            await client.request(method, ME, headers=handler, json={"roles": ["leader"]}), 405
        )
    seen = (await client.get(ME, headers=handler)).json()
    assert (seen["roles"], seen["scope"]) == (["handler"], "town:lujiazui")


async def test_an_administrator_grants_no_scope_wider_than_its_own(
    client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    town_admin = await open_account(
        client, admin, "admin.lujiazui", roles=("system_admin",), scope="town:lujiazui"
    )
    village = "lujiazui-meiyuan"  # a village of Lujiazui in the catalog

    def account(username: str, scope: str) -> dict[str, Any]:
        return {
            "username": username,
            "display_name": username,
            "password": "Lantern-Quay-5190",
            "roles": ["handler"],
            "scope": scope,
        }

    for i, wider in enumerate(("district", "town:zhangjiang", "sector:construction")):
        refused = await client.post(
            "/api/v1/accounts", headers=town_admin, json=account(f"wider-{i}", wider)
        )
        assert_problem(refused, 403)
        assert_problem(await client.get(f"/api/v1/accounts/wider-{i}", headers=admin), 404)
    for i, scope in enumerate(("town:lujiazui", f"village:{village}")):
        made = await client.post(
            "/api/v1/accounts", headers=town_admin, json=account(f"within-{i}", scope)
        )
        assert made.status_code == 201, made.text
    # Nor by changing an account of its town, or its own account.
    for username in ("within-0", "admin.lujiazui"):
        widened = await client.patch(
            f"/api/v1/accounts/{username}", headers=town_admin, json={"scope": "district"}
        )
        assert_problem(widened, 403)
        seen = (await client.get(f"/api/v1/accounts/{username}", headers=admin)).json()
        assert seen["scope"] == "town:lujiazui"
