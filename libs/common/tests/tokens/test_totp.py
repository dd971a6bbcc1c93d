"""The second factor on real PostgreSQL, with the issuer's clock playing the authenticator
app's: enrolment, required for administrators where enforced, optional elsewhere, wrong codes
counted towards the lockout, spent codes refused."""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest

from riskwatch.common.identity import totp
from riskwatch.common.identity.service import WRONG_CREDENTIALS

from .conftest import (
    ME,
    REFRESH,
    Issuer,
    bearer_of,
    login,
    running_issuer,
    tokens_of,
    unique,
)

ENROL = "/api/v1/auth/totp"
CONFIRM = "/api/v1/auth/totp/confirm"


def amr_of(body: dict[str, Any]) -> list[str]:
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    amr: list[str] = claims["amr"]
    return amr


async def enrol(issuer: Issuer, client: httpx.AsyncClient, headers: dict[str, str]) -> str:
    """Enrol a second factor with `headers`' token; its secret (the app's copy)."""
    started = await client.post(ENROL, headers=headers)
    assert started.status_code == 200, started.text
    body = started.json()
    assert body["otpauth_uri"].startswith("otpauth://totp/")
    assert body["secret"] in body["otpauth_uri"]
    secret: str = body["secret"]
    wrong = await client.post(CONFIRM, json={"code": "000000"}, headers=headers)
    if totp.matching_step(secret, "000000", at=issuer.clock(), last_step=None) is None:
        assert wrong.status_code == 422
    code = totp.code_at(secret, issuer.clock())
    confirmed = await client.post(CONFIRM, json={"code": code}, headers=headers)
    assert confirmed.status_code == 204, confirmed.text
    return secret


@pytest.fixture
async def enforcing(tokens_db: str) -> Any:
    async with running_issuer(tokens_db, require_totp_for_admins=True) as found:
        yield found


async def test_administrators_enrol_at_their_first_login_where_it_is_enforced(
    enforcing: Issuer,
) -> None:
    issuer = enforcing
    username = unique("secadmin")
    await issuer.open_account(username, roles=("security_admin",))
    client = await issuer.client()

    refused = await login(client, username)
    assert refused.status_code == 403
    problem = refused.json()
    assert problem["type"].endswith("/totp-enrolment-required")
    assert "access_token" not in problem
    enrolment = bearer_of(problem["enrolment_token"])
    # The enrolment token enrols a factor and opens nothing else.
    assert (await client.get(ME, headers=enrolment)).status_code == 401
    assert (await client.get("/api/v1/roles", headers=enrolment)).status_code == 401

    secret = await enrol(issuer, client, enrolment)

    missing = await login(client, username)
    assert missing.status_code == 401
    assert missing.json()["type"].endswith("/otp-required")
    issuer.clock.advance(30)
    code = totp.code_at(secret, issuer.clock())
    body = tokens_of(await login(client, username, otp=code))
    assert amr_of(body) == ["pwd", "otp"]
    assert (await client.get(ME, headers=bearer_of(body["access_token"]))).status_code == 200
    # The code is spent: seen over a shoulder, it is worth nothing.
    spent = await login(await issuer.client(), username, otp=code)
    assert spent.status_code == 401
    assert spent.json()["type"].endswith("/otp-invalid")
    # Refreshes carry the second factor on.
    again = tokens_of(await client.post(REFRESH, data={"refresh_token": body["refresh_token"]}))
    assert amr_of(again) == ["pwd", "otp"]

    trail = [(r.action, r.outcome, r.reason) for r in await issuer.audit(username)]
    assert ("auth.otp", "denied", "totp-enrolment-required") in trail
    assert ("auth.totp_enrolment", "success", "started") in trail
    assert ("auth.totp_enrolment", "failure", "wrong one-time code") in trail
    assert ("auth.totp_enrolment", "success", "confirmed") in trail
    assert ("auth.otp", "denied", "otp-required") in trail
    assert ("auth.otp", "failure", "wrong or spent one-time code") in trail


async def test_wrong_codes_count_towards_the_lockout(enforcing: Issuer) -> None:
    issuer = enforcing
    username = unique("auditadmin")
    await issuer.open_account(username, roles=("audit_admin",))
    client = await issuer.client()
    enrolment = bearer_of((await login(client, username)).json()["enrolment_token"])
    secret = await enrol(issuer, client, enrolment)
    issuer.clock.advance(90)
    right = totp.code_at(secret, issuer.clock())
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    for _ in range(5):
        refused = await login(await issuer.client(), username, otp=wrong)
        assert refused.status_code == 401
        assert refused.json()["type"].endswith("/otp-invalid")
    locked = await login(await issuer.client(), username, otp=right)
    assert locked.status_code == 429
    trail = [(r.action, r.outcome) for r in await issuer.audit(username)]
    assert trail.count(("auth.otp", "failure")) == 5
    assert ("auth.lockout", "failure") in trail


async def test_a_wrong_password_with_a_right_code_is_a_wrong_password(enforcing: Issuer) -> None:
    issuer = enforcing
    username = unique("sysadmin")
    await issuer.open_account(username, roles=("system_admin",))
    client = await issuer.client()
    enrolment = bearer_of((await login(client, username)).json()["enrolment_token"])
    secret = await enrol(issuer, client, enrolment)
    issuer.clock.advance(30)
    refused = await login(
        client, username, "Not-The-Password-1", otp=totp.code_at(secret, issuer.clock())
    )
    assert refused.status_code == 401
    assert refused.json()["detail"] == WRONG_CREDENTIALS


async def test_without_enforcement_administrators_log_in_with_a_password(
    tokens_db: str,
) -> None:
    async with running_issuer(tokens_db, require_totp_for_admins=False) as issuer:
        username = unique("sysadmin")
        await issuer.open_account(username, roles=("system_admin",))
        body = tokens_of(await login(await issuer.client(), username))
        assert amr_of(body) == ["pwd"]


def test_the_setting_follows_the_environment() -> None:
    from riskwatch.common.settings import ServiceSettings

    assert ServiceSettings(env="development").auth.require_totp_for_admins is False
    assert ServiceSettings(env="test").auth.require_totp_for_admins is False
    production = ServiceSettings(env="production", admin_password=None)
    assert production.auth.require_totp_for_admins is True
    off = ServiceSettings(env="development", auth={"require_totp_for_admins": True})  # type: ignore[arg-type]
    assert off.auth.require_totp_for_admins is True


async def test_anyone_may_add_a_second_factor_and_then_needs_it(tokens_db: str) -> None:
    async with running_issuer(tokens_db, require_totp_for_admins=False) as issuer:
        username = unique("careful")
        await issuer.open_account(username)
        client = await issuer.client()
        body = tokens_of(await login(client, username))
        access = bearer_of(body["access_token"])
        secret = await enrol(issuer, client, access)
        # A password alone no longer opens the account, nor replaces its factor.
        assert (await login(client, username)).json()["type"].endswith("/otp-required")
        assert (await client.post(ENROL, headers=access)).status_code == 403
        # The session begun without it ends at its next refresh.
        ended = await client.post(REFRESH, data={"refresh_token": body["refresh_token"]})
        assert ended.status_code == 401
        issuer.clock.advance(30)
        with_code = tokens_of(
            await login(client, username, otp=totp.code_at(secret, issuer.clock()))
        )
        assert amr_of(with_code) == ["pwd", "otp"]
        # From a login with the code, the factor may be replaced.
        replaced = await client.post(ENROL, headers=bearer_of(with_code["access_token"]))
        assert replaced.status_code == 200

        # An administrator removes it (a lost phone): the account's sessions end.
        removed = await client.delete(
            f"/api/v1/accounts/{username}/totp", headers=issuer.admin_headers()
        )
        assert removed.status_code == 200, removed.text
        assert amr_of(tokens_of(await login(client, username))) == ["pwd"]
        again = await client.post(REFRESH, data={"refresh_token": with_code["refresh_token"]})
        assert again.status_code == 401


async def test_enrolment_needs_a_token_of_a_live_account(tokens_db: str) -> None:
    async with running_issuer(tokens_db) as issuer:
        client = await issuer.client()
        assert (await client.post(ENROL)).status_code == 401
        # A token of the issuer for a subject with no account.
        assert (await client.post(ENROL, headers=issuer.admin_headers())).status_code == 401
        assert (await client.post(ENROL, headers=bearer_of("garbage"))).status_code == 401
