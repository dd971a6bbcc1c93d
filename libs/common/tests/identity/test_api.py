"""The issuer's HTTP API on real PostgreSQL: accounts, the forced first change, lockouts,
revocation, scopes, problems, and the audit records staged with each of them."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from riskwatch.common.identity.models import Account, LoginFailure
from riskwatch.common.identity.service import WRONG_CREDENTIALS
from riskwatch.common.identity.store import ACCOUNT

from .conftest import ADMIN_PASSWORD, Issuer, login, unique

PROBLEM = "application/problem+json"
FIRST_PASSWORD = "Temporary-Pass-2026"
OWN_PASSWORD = "My-Own-Secret-7781"


def account_body(username: str, **overrides: Any) -> dict[str, Any]:
    return {
        "username": username,
        "display_name": "花木街道 处置员",
        "password": FIRST_PASSWORD,
        "roles": ["handler"],
        "scope": "town:lujiazui",
        "phone": "13800138000",
        **overrides,
    }


async def open_account(issuer: Issuer, username: str, **overrides: Any) -> dict[str, Any]:
    """An account an administrator opened, whose owner then chose its own password."""
    client = await issuer.client()
    response = await client.post(
        "/api/v1/accounts", json=account_body(username, **overrides), headers=issuer.headers()
    )
    assert response.status_code == 201, response.text
    changed = await client.post(
        "/api/v1/auth/password",
        json={
            "username": username,
            "current_password": overrides.get("password", FIRST_PASSWORD),
            "new_password": OWN_PASSWORD,
        },
    )
    assert changed.status_code == 204, changed.text
    body: dict[str, Any] = response.json()
    return body


def bearer_of(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_admin_opens_a_town_handler_who_chooses_a_password_then_works(
    issuer: Issuer,
) -> None:
    client = await issuer.client()
    admin = bearer_of(await login(client, "admin", ADMIN_PASSWORD))
    handler = unique("lujiazui-handler")

    created = await client.post("/api/v1/accounts", json=account_body(handler), headers=admin)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["must_change_password"] is True
    assert body["created_by"] == "admin"
    assert (body["roles"], body["scope"]) == (["handler"], "town:lujiazui")
    assert not any("hash" in key or key == "password" for key in body)

    first = await login(client, handler, FIRST_PASSWORD)
    assert first.status_code == 403
    assert first.headers["content-type"] == PROBLEM
    assert first.json()["type"].endswith("/password-change-required")
    assert "access_token" not in first.json()

    weak = await client.post(
        "/api/v1/auth/password",
        json={"username": handler, "current_password": FIRST_PASSWORD, "new_password": "zqv"},
    )
    assert weak.status_code == 422
    assert {e["code"] for e in weak.json()["errors"]} == {"too-short", "too-few-classes"}
    changed = await client.post(
        "/api/v1/auth/password",
        json={
            "username": handler,
            "current_password": FIRST_PASSWORD,
            "new_password": OWN_PASSWORD,
        },
    )
    assert changed.status_code == 204, changed.text

    assert (await login(client, handler, FIRST_PASSWORD)).status_code == 401
    token = bearer_of(await login(client, handler, OWN_PASSWORD))
    me = await client.get("/api/v1/auth/me", headers=token)
    assert me.status_code == 200, me.text
    assert me.json()["roles"] == ["handler"]
    assert me.json()["scope"] == "town:lujiazui"
    assert "workorders:act" in me.json()["permissions"]
    assert "accounts:write" not in me.json()["permissions"]
    # A handler manages no accounts.
    assert (await client.get("/api/v1/accounts", headers=token)).status_code == 403

    by_admin = [(r.action, r.outcome) for r in await issuer.audit("admin")]
    assert ("create_account", "success") in by_admin
    assert ("auth.login", "success") in by_admin
    trail = [(r.action, r.outcome, r.status) for r in await issuer.audit(handler)]
    assert trail == [
        ("auth.login", "denied", 403),
        ("auth.password_change", "success", 204),
        ("auth.login", "failure", 401),
        ("auth.login", "success", 200),
    ]
    creation = next(r for r in await issuer.audit("admin") if r.action == "create_account")
    assert creation.after_digest is not None
    assert creation.service == "identity"


async def test_six_wrong_passwords_lock_the_account_until_the_window_passes(
    issuer: Issuer,
) -> None:
    username = unique("locked")
    await open_account(issuer, username)
    client = await issuer.client()
    for _ in range(5):
        wrong = await login(client, username, "Not-The-Password-1")
        assert wrong.status_code == 401
    # The sixth attempt is refused even with the right password.
    locked = await login(client, username, OWN_PASSWORD)
    assert locked.status_code == 429
    assert locked.headers["content-type"] == PROBLEM
    assert locked.json()["type"].endswith("/login-locked")
    retry_after = int(locked.headers["Retry-After"])
    assert 0 < retry_after <= 15 * 60
    # From another address too: the account is locked, not the address.
    elsewhere = await issuer.client()
    assert (await login(elsewhere, username, OWN_PASSWORD)).status_code == 429

    trail = [(r.action, r.outcome) for r in await issuer.audit(username)]
    assert trail.count(("auth.login", "failure")) == 5
    assert trail.count(("auth.lockout", "failure")) == 1
    assert trail[-2:] == [("auth.login", "denied"), ("auth.login", "denied")]

    issuer.clock.advance(retry_after)
    assert (await login(client, username, OWN_PASSWORD)).status_code == 200


async def test_five_failures_from_one_address_lock_that_address(issuer: Issuer) -> None:
    username = unique("victim")
    await open_account(issuer, username)
    attacker = await issuer.client()
    for i in range(5):  # five guesses at five names, none of them existing
        assert (await login(attacker, unique(f"guess{i}"), "Whatever-123!")).status_code == 401
    refused = await login(attacker, username, OWN_PASSWORD)
    assert refused.status_code == 429
    assert "Retry-After" in refused.headers
    honest = await issuer.client()
    assert (await login(honest, username, OWN_PASSWORD)).status_code == 200


async def test_unknown_usernames_are_recorded_as_failed_logins(issuer: Issuer) -> None:
    client = await issuer.client()
    nobody = unique("nobody")
    response = await login(client, nobody, "Some-Password-1")
    assert response.status_code == 401
    assert response.json()["detail"] == WRONG_CREDENTIALS
    [record] = await issuer.audit(nobody)
    assert (record.action, record.outcome, record.actor) == ("auth.login", "failure", nobody)
    assert record.reason == "unknown account"
    assert record.source_address is not None


async def test_a_disabled_account_cannot_log_in_and_its_tokens_end(issuer: Issuer) -> None:
    username = unique("leaver")
    await open_account(issuer, username)
    client = await issuer.client()
    token = bearer_of(await login(client, username, OWN_PASSWORD))
    assert (await client.get("/api/v1/auth/me", headers=token)).status_code == 200

    disabled = await client.patch(
        f"/api/v1/accounts/{username}", json={"disabled": True}, headers=issuer.headers()
    )
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["disabled"] is True

    assert (await client.get("/api/v1/auth/me", headers=token)).status_code == 401
    refused = await login(client, username, OWN_PASSWORD)
    assert refused.status_code == 401
    assert refused.json()["detail"] == WRONG_CREDENTIALS  # as for a wrong password
    wrong = await login(client, username, "Wrong-Password-99")
    assert wrong.json()["detail"] == refused.json()["detail"]


async def test_a_reset_ends_the_tokens_lifts_the_lock_and_forces_a_change(
    issuer: Issuer, engine: Any
) -> None:
    username = unique("forgetful")
    await open_account(issuer, username)
    client = await issuer.client()
    token = bearer_of(await login(client, username, OWN_PASSWORD))
    async with engine.connect() as conn:
        epoch = await conn.scalar(select(Account.session_epoch).where(Account.username == username))
    for _ in range(5):
        await login(client, username, "Wrong-Password-99")

    reset = await client.post(
        f"/api/v1/accounts/{username}/password",
        json={"password": "Reset-By-Admin-2026"},
        headers=issuer.headers(),
    )
    assert reset.status_code == 200, reset.text
    assert reset.json()["must_change_password"] is True
    async with engine.connect() as conn:
        assert (
            await conn.scalar(select(Account.session_epoch).where(Account.username == username))
            == epoch + 1
        )
        assert not (
            await conn.execute(
                select(LoginFailure.id).where(
                    LoginFailure.kind == ACCOUNT, LoginFailure.key == username
                )
            )
        ).all()
    assert (await client.get("/api/v1/auth/me", headers=token)).status_code == 401
    other = await issuer.client()  # this address still counts its five failures
    after = await login(other, username, "Reset-By-Admin-2026")
    assert after.status_code == 403
    assert after.json()["type"].endswith("/password-change-required")


async def test_roles_change_ends_tokens_and_patch_records_digests_only(issuer: Issuer) -> None:
    username = unique("promoted")
    await open_account(issuer, username)
    client = await issuer.client()
    token = bearer_of(await login(client, username, OWN_PASSWORD))
    patched = await client.patch(
        f"/api/v1/accounts/{username}",
        json={"roles": ["handler", "department_head"], "display_name": "张伟", "phone": None},
        headers=issuer.headers("patcher"),
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["phone"] is None
    assert (await client.get("/api/v1/auth/me", headers=token)).status_code == 401

    [record] = [r for r in await issuer.audit("patcher") if r.action == "update_account"]
    assert record.before_digest
    assert record.after_digest
    assert record.before_digest != record.after_digest
    assert "张伟" not in record.model_dump_json()
    assert "13800138000" not in record.model_dump_json()


async def test_the_account_list_is_cut_to_the_callers_scope(issuer: Issuer) -> None:
    client = await issuer.client()
    district = issuer.headers()
    tag = unique("s")
    placed = {
        "sector": ("sector:construction", f"{tag}-sector"),
        "town": ("town:lujiazui", f"{tag}-town"),
        "village": ("village:lujiazui-meiyuan", f"{tag}-village"),
        "other": ("town:zhangjiang", f"{tag}-other"),
    }
    for scope, username in placed.values():
        response = await client.post(
            "/api/v1/accounts", json=account_body(username, scope=scope), headers=district
        )
        assert response.status_code == 201, response.text

    async def listed(headers: dict[str, str], **params: str) -> set[str]:
        params = {"limit": "500", **params}
        response = await client.get("/api/v1/accounts", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return {a["username"] for a in response.json()["items"] if a["username"].startswith(tag)}

    everyone = {u for _, u in placed.values()}
    assert await listed(district) == everyone
    sector_admin = issuer.headers(roles=("system_admin",), scope="sector:construction")
    assert await listed(sector_admin) == {placed["sector"][1]}
    town_admin = issuer.headers(roles=("system_admin",), scope="town:lujiazui")
    assert await listed(town_admin) == {placed["town"][1], placed["village"][1]}
    assert await listed(district, scope="town:zhangjiang") == {placed["other"][1]}
    assert await listed(district, role="handler", status="active") == everyone
    assert await listed(district, status="disabled") == set()

    # Outside its scope an account does not exist; inside it, a narrower scope may be granted.
    other = placed["other"][1]
    assert (await client.get(f"/api/v1/accounts/{other}", headers=town_admin)).status_code == 404
    no_patch = await client.patch(
        f"/api/v1/accounts/{other}", json={"disabled": True}, headers=town_admin
    )
    assert no_patch.status_code == 404
    village = await client.post(
        "/api/v1/accounts",
        json=account_body(f"{tag}-v2", scope="village:lujiazui-dongchang"),
        headers=town_admin,
    )
    assert village.status_code == 201, village.text
    for wider in ("district", "town:zhangjiang", "sector:construction", "village:sanlin-linyi"):
        refused = await client.post(
            "/api/v1/accounts",
            json=account_body(unique("wide"), scope=wider),
            headers=town_admin,
        )
        assert refused.status_code == 403, wider
        assert refused.headers["content-type"] == PROBLEM
    widened = await client.patch(
        f"/api/v1/accounts/{placed['town'][1]}", json={"scope": "district"}, headers=town_admin
    )
    assert widened.status_code == 403


async def test_the_list_pages_with_a_cursor(issuer: Issuer) -> None:
    client = await issuer.client()
    scope = "village:huinan-xiaowan"
    names = {unique("page") for _ in range(3)}
    for name in names:
        await client.post(
            "/api/v1/accounts", json=account_body(name, scope=scope), headers=issuer.headers()
        )
    seen: list[str] = []
    cursor = None
    while True:
        params = {"scope": scope, "limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (
            await client.get("/api/v1/accounts", params=params, headers=issuer.headers())
        ).json()
        seen += [a["username"] for a in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert names <= set(seen)
    assert len(seen) == len(set(seen))


async def test_bad_accounts_are_problems(issuer: Issuer) -> None:
    client = await issuer.client()
    admin = issuer.headers()
    cases: dict[str, dict[str, Any]] = {
        "unknown role": {"roles": ["overlord"]},
        "no role": {"roles": []},
        "not a scope": {"scope": "city:shanghai"},
        "unknown town": {"scope": "town:atlantis"},
        "unknown village": {"scope": "village:nowhere"},
        "unknown sector": {"scope": "sector:space"},
        "weak password": {"password": "password2026!"},
        "username in password": {"password": "Xx-{name}-2026"},
        "bad phone": {"phone": "call me"},
        "extra field": {"is_root": True},
        "upper case username": {"username": "Shouting"},
        "nul in name": {"display_name": "a\u0000b"},
    }
    for case, overrides in cases.items():
        name = unique("bad")
        body = {**account_body(name), **overrides}
        body["password"] = body["password"].replace("{name}", name)
        response = await client.post("/api/v1/accounts", json=body, headers=admin)
        assert response.status_code == 422, (case, response.text)
        assert response.headers["content-type"] == PROBLEM, case
        assert response.json()["type"].endswith("/invalid"), case
    weak = await client.post(
        "/api/v1/accounts", json=account_body(unique("w"), password="password2026!"), headers=admin
    )
    assert [e["code"] for e in weak.json()["errors"]] == ["common"]
    assert weak.json()["field"] == "password"
    unknown_town = await client.post(
        "/api/v1/accounts", json=account_body(unique("t"), scope="town:atlantis"), headers=admin
    )
    assert unknown_town.json()["field"] == "scope"

    twice = unique("twice")
    assert (
        await client.post("/api/v1/accounts", json=account_body(twice), headers=admin)
    ).status_code == 201
    again = await client.post("/api/v1/accounts", json=account_body(twice), headers=admin)
    assert again.status_code == 409
    assert again.headers["content-type"] == PROBLEM
    bad_filter = await client.get("/api/v1/accounts", params={"scope": "planet"}, headers=admin)
    assert bad_filter.status_code == 422
    assert (
        await client.get("/api/v1/accounts", params={"status": "gone"}, headers=admin)
    ).status_code == 422


async def test_each_route_asks_for_its_permission(issuer: Issuer) -> None:
    client = await issuer.client()
    assert (await client.get("/api/v1/accounts")).status_code == 401
    assert (await client.get("/api/v1/auth/me")).status_code == 401
    reader = issuer.headers(roles=("security_admin",))
    assert (await client.get("/api/v1/accounts", headers=reader)).status_code == 200
    refused = await client.post(
        "/api/v1/accounts", json=account_body(unique("nope")), headers=reader
    )
    assert refused.status_code == 403
    handler = issuer.headers(roles=("handler",))
    assert (await client.get("/api/v1/accounts", headers=handler)).status_code == 403
    # A token of a subject with no account here (minted by the process) has no /me.
    assert (await client.get("/api/v1/auth/me", headers=reader)).status_code == 401


async def test_the_password_change_counts_wrong_current_passwords(issuer: Issuer) -> None:
    username = unique("guessed")
    await open_account(issuer, username)
    client = await issuer.client()
    for _ in range(5):
        response = await client.post(
            "/api/v1/auth/password",
            json={
                "username": username,
                "current_password": "Guess-Guess-123",
                "new_password": "Another-Secret-456",
            },
        )
        assert response.status_code == 401
    locked = await client.post(
        "/api/v1/auth/password",
        json={
            "username": username,
            "current_password": OWN_PASSWORD,
            "new_password": "Another-Secret-456",
        },
    )
    assert locked.status_code == 429
    same = await (await issuer.client()).post(
        "/api/v1/auth/password",
        json={"username": username, "current_password": "x", "new_password": "y"},
    )
    assert same.status_code == 429  # the account is locked, from anywhere


async def test_the_roles_are_listed_with_their_labels(issuer: Issuer) -> None:
    client = await issuer.client()
    listed = await client.get("/api/v1/roles", headers=issuer.headers(roles=("security_admin",)))
    assert listed.status_code == 200
    roles = {r["id"]: r for r in listed.json()}
    assert roles["handler"]["label_zh"] == "处置人员"
    assert "workorders:act" in roles["handler"]["permissions"]
    assert roles["audit_admin"]["administrator"] is True
    refused = await client.get("/api/v1/roles", headers=issuer.headers(roles=("handler",)))
    assert refused.status_code == 403


async def test_administrators_stay_separated_and_nobody_raises_their_own_rights(
    issuer: Issuer,
) -> None:
    """The system administrator cannot give itself the audit administrator's role (it would
    then read the trail of its own doings), nor open an account that is both an administrator
    and something else; nobody changes their own roles, scope or `disabled`, nor resets their
    own password through the administrators' route."""
    client = await issuer.client()
    admin = bearer_of(await login(client, "admin", ADMIN_PASSWORD))

    escalate = await client.patch(
        "/api/v1/accounts/admin", json={"roles": ["system_admin", "audit_admin"]}, headers=admin
    )
    assert escalate.status_code == 422, escalate.text
    assert "held alone" in escalate.text
    own_role = await client.patch(
        "/api/v1/accounts/admin", json={"roles": ["audit_admin"]}, headers=admin
    )
    assert own_role.status_code == 403, own_role.text
    own_scope = await client.patch(
        "/api/v1/accounts/admin", json={"scope": "town:lujiazui"}, headers=admin
    )
    assert own_scope.status_code == 403
    own_reset = await client.post(
        "/api/v1/accounts/admin/password", json={"password": OWN_PASSWORD}, headers=admin
    )
    assert own_reset.status_code == 403
    # What does not touch its rights, it may change.
    renamed = await client.patch(
        "/api/v1/accounts/admin", json={"display_name": "Administrator"}, headers=admin
    )
    assert renamed.status_code == 200, renamed.text

    mixed = await client.post(
        "/api/v1/accounts",
        json=account_body(unique("auditor"), roles=["audit_admin", "business_admin"]),
        headers=admin,
    )
    assert mixed.status_code == 422
    assert "held alone" in mixed.text
    me = (await client.get("/api/v1/auth/me", headers=admin)).json()
    assert me["roles"] == ["system_admin"]
