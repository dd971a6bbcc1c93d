"""Sessions on real PostgreSQL with the issuer's clock: 15-minute access tokens, refresh tokens
good once (a second use ends the session), logout, idle and absolute expiry, and the live
account behind every refresh; each with its audit record."""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest

from riskwatch.common.identity.client import SessionAuth

from .conftest import (
    LOGOUT,
    ME,
    OWN_PASSWORD,
    REFRESH,
    Issuer,
    bearer_of,
    login,
    running_issuer,
    tokens_of,
    unique,
)


@pytest.fixture
async def issuer(tokens_db: str) -> Any:
    async with running_issuer(tokens_db) as found:
        yield found


async def logged_in(issuer: Issuer, username: str) -> dict[str, Any]:
    client = await issuer.client()
    return tokens_of(await login(client, username))


async def refresh(issuer: Issuer, token: str) -> Any:
    client = await issuer.client()
    return await client.post(REFRESH, data={"refresh_token": token})


async def test_a_login_gives_a_15_minute_access_token_and_a_refresh_token(
    issuer: Issuer,
) -> None:
    username = unique("handler")
    await issuer.open_account(username)
    body = await logged_in(issuer, username)
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert (body["token_type"], body["expires_in"]) == ("bearer", 900)
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert {"iss", "aud", "sub", "iat", "nbf", "exp", "jti", "roles", "org", "ver", "sid"} <= set(
        claims
    )
    assert claims["exp"] - claims["iat"] == 900
    assert (claims["sub"], claims["roles"], claims["amr"]) == (username, ["handler"], ["pwd"])

    client = await issuer.client()
    access = bearer_of(body["access_token"])
    issuer.clock.advance(14 * 60)
    assert (await client.get(ME, headers=access)).status_code == 200
    issuer.clock.advance(60 + 31)  # past 15 minutes and the 30 s of leeway
    expired = await client.get(ME, headers=access)
    assert expired.status_code == 401
    assert expired.json()["detail"] == "The token has expired."


async def test_a_refresh_token_is_good_once_and_its_reuse_ends_the_session(
    issuer: Issuer,
) -> None:
    username = unique("handler")
    await issuer.open_account(username)
    first = await logged_in(issuer, username)

    issuer.clock.advance(10 * 60)
    second = tokens_of(await refresh(issuer, first["refresh_token"]))
    assert second["refresh_token"] != first["refresh_token"]
    claims = [
        jwt.decode(b["access_token"], options={"verify_signature": False}) for b in (first, second)
    ]
    assert claims[0]["sid"] == claims[1]["sid"]  # the same session goes on
    assert claims[1]["iat"] == claims[0]["iat"] + 600

    # The first token again: someone holds a copy. Refused, and the session ends for both.
    stolen = await refresh(issuer, first["refresh_token"])
    assert stolen.status_code == 401
    assert stolen.headers["content-type"] == "application/problem+json"
    assert (await refresh(issuer, second["refresh_token"])).status_code == 401

    trail = [(r.action, r.outcome, r.status) for r in await issuer.audit(username)]
    assert trail[-4:] == [
        ("auth.login", "success", 200),
        ("auth.refresh", "success", 200),
        ("auth.refresh_reuse", "failure", 401),
        ("auth.refresh", "failure", 401),
    ]
    reuse = next(r for r in await issuer.audit(username) if r.action == "auth.refresh_reuse")
    assert reuse.reason is not None
    assert reuse.reason.endswith("refresh-token-reused")
    assert first["refresh_token"] not in reuse.model_dump_json()


async def test_unknown_refresh_tokens_are_refused_and_recorded(issuer: Issuer) -> None:
    before = len(await issuer.audit("anonymous"))
    response = await refresh(issuer, "not-a-refresh-token")
    assert response.status_code == 401
    records = (await issuer.audit("anonymous"))[before:]
    assert [(r.action, r.outcome, r.reason) for r in records] == [
        ("auth.refresh", "failure", "unknown refresh token")
    ]


async def test_logout_with_the_refresh_token_or_the_access_token_ends_the_session(
    issuer: Issuer,
) -> None:
    username = unique("leaving")
    await issuer.open_account(username)
    client = await issuer.client()

    by_refresh = await logged_in(issuer, username)
    out = await client.post(LOGOUT, data={"refresh_token": by_refresh["refresh_token"]})
    assert out.status_code == 204, out.text
    assert (await refresh(issuer, by_refresh["refresh_token"])).status_code == 401

    by_access = await logged_in(issuer, username)
    out = await client.post(LOGOUT, headers=bearer_of(by_access["access_token"]))
    assert out.status_code == 204, out.text
    assert (await refresh(issuer, by_access["refresh_token"])).status_code == 401

    nothing = await client.post(LOGOUT)
    assert nothing.status_code == 401
    # Twice is no error: the session is over either way.
    again = await client.post(LOGOUT, data={"refresh_token": by_refresh["refresh_token"]})
    assert again.status_code == 204

    trail = [(r.action, r.outcome) for r in await issuer.audit(username)]
    assert trail.count(("auth.logout", "success")) == 3
    refused = [r for r in await issuer.audit(username) if r.action == "auth.refresh"]
    assert all(r.reason and r.reason.endswith(": logout") for r in refused)


async def test_an_idle_session_ends(issuer: Issuer) -> None:
    username = unique("idle")
    await issuer.open_account(username)
    body = await logged_in(issuer, username)
    issuer.clock.advance(29 * 60)  # used within the 30 minutes: it goes on
    body = tokens_of(await refresh(issuer, body["refresh_token"]))
    issuer.clock.advance(30 * 60)
    idle = await refresh(issuer, body["refresh_token"])
    assert idle.status_code == 401
    [last] = [r for r in await issuer.audit(username) if r.action == "auth.refresh"][-1:]
    assert last.reason is not None
    assert last.reason.endswith(": idle")


async def test_no_session_outlives_its_maximum_age(tokens_db: str) -> None:
    async with running_issuer(tokens_db, session_idle_s=1800, session_max_s=3600) as issuer:
        username = unique("long")
        await issuer.open_account(username)
        body = await logged_in(issuer, username)
        for _ in range(2):  # used every 25 minutes: never idle
            issuer.clock.advance(25 * 60)
            body = tokens_of(await refresh(issuer, body["refresh_token"]))
        issuer.clock.advance(25 * 60)  # 75 minutes after the login
        expired = await refresh(issuer, body["refresh_token"])
        assert expired.status_code == 401
        last = [r for r in await issuer.audit(username) if r.action == "auth.refresh"][-1]
        assert last.reason is not None
        assert last.reason.endswith(": expired")


async def test_a_disabled_account_cannot_refresh(issuer: Issuer) -> None:
    username = unique("disabled")
    await issuer.open_account(username)
    body = await logged_in(issuer, username)
    client = await issuer.client()
    disabled = await client.patch(
        f"/api/v1/accounts/{username}", json={"disabled": True}, headers=issuer.admin_headers()
    )
    assert disabled.status_code == 200, disabled.text
    assert (await refresh(issuer, body["refresh_token"])).status_code == 401
    last = [r for r in await issuer.audit(username) if r.action == "auth.refresh"][-1]
    assert last.reason is not None
    assert last.reason.endswith(": account-changed")


async def test_a_refresh_reads_the_account_as_it_is_now(issuer: Issuer) -> None:
    username = unique("moved")
    await issuer.open_account(username)
    body = await logged_in(issuer, username)
    client = await issuer.client()
    # A display name is no change to the session: the refresh carries on, with the account's
    # roles and scope read again.
    renamed = await client.patch(
        f"/api/v1/accounts/{username}",
        json={"display_name": "张伟"},
        headers=issuer.admin_headers(),
    )
    assert renamed.status_code == 200, renamed.text
    again = tokens_of(await refresh(issuer, body["refresh_token"]))
    claims = jwt.decode(again["access_token"], options={"verify_signature": False})
    assert (claims["roles"], claims["org"]) == (["handler"], "district")
    # New roles end the session: its tokens would carry the old ones.
    promoted = await client.patch(
        f"/api/v1/accounts/{username}",
        json={"roles": ["department_head"]},
        headers=issuer.admin_headers(),
    )
    assert promoted.status_code == 200
    assert (await refresh(issuer, again["refresh_token"])).status_code == 401
    fresh = await logged_in(issuer, username)
    claims = jwt.decode(fresh["access_token"], options={"verify_signature": False})
    assert claims["roles"] == ["department_head"]


async def test_a_long_running_client_refreshes_and_logs_in_again(issuer: Issuer) -> None:
    username = unique("simulator")
    await issuer.open_account(username)
    ticks = [0.0]
    auth = SessionAuth("http://test", username, OWN_PASSWORD, monotonic=lambda: ticks[0])
    transport = httpx.ASGITransport(app=issuer.asgi, client=("10.9.9.9", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://test", auth=auth) as c:
        assert (await c.get(ME)).status_code == 200
        for _ in range(3):  # an hour: refreshed before each access token ends
            ticks[0] += 20 * 60
            issuer.clock.advance(20 * 60)
            assert (await c.get(ME)).status_code == 200
        trail = [(r.action, r.outcome) for r in await issuer.audit(username)]
        assert trail.count(("auth.login", "success")) == 1
        assert trail.count(("auth.refresh", "success")) == 3
        # The session ended (idle an hour): it logs in again.
        ticks[0] += 3600
        issuer.clock.advance(3600)
        assert (await c.get(ME)).status_code == 200
        trail = [(r.action, r.outcome) for r in await issuer.audit(username)]
        assert trail.count(("auth.login", "success")) == 2
