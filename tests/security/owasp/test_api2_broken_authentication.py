"""OWASP API2:2023, Broken Authentication: tokens that are not checked (signature, algorithm,
issuer, audience, expiry), tokens that outlive their account, credentials that can be guessed
without limit, weak passwords, answers that tell which usernames exist.

RiskWatch answers with Ed25519-signed access tokens verified by every service with the issuer's
public keys, the algorithm taken from the key and never from the token (ADR 0014); a token must
name a live, enabled account (ADR 0015); a bearer token is required at the edge before anything
else (ADR 0016); five failed logins in 15 minutes lock the account and the address (429 with
Retry-After, even for the right password); passwords follow a policy; a wrong password, an
unknown and a disabled account get one and the same answer. Every refusal is a 401 problem with
`WWW-Authenticate: Bearer`. The tokens below are signed with the platform's own key, read from
its database, so that each differs from an admitted token in one property only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import text

from riskwatch.common.access import DISTRICT
from riskwatch.common.auth import SigningKey, TokenService
from riskwatch.common.testing import engine_for, eventually

from .conftest import (
    ADMIN_PASSWORD,
    DEMO_PASSWORD,
    ME,
    PASSWORD,
    Platform,
    assert_problem,
    bearer_of,
    login,
    open_account,
    token,
)

pytestmark = [pytest.mark.postgres]

# One read of each kind of process: identity's own account check, then four services.
READS = [ME, "/api/v1/workorders", "/api/v1/alarms", "/api/v1/notifications", "/api/v1/devices"]
SUBJECT = "leader"  # a demo account (district, reads everything operational)


@pytest.fixture(scope="module")
async def signing_key(platform: Platform, client: httpx.AsyncClient) -> SigningKey:
    """The key the platform signs with now: the kid of a fresh token, its row in the database."""
    issued = await token(client, SUBJECT, DEMO_PASSWORD)
    assert issued.status_code == 200, issued.text
    kid = jwt.get_unverified_header(issued.json()["access_token"])["kid"]
    engine = engine_for(platform.database_url)
    try:
        async with engine.connect() as conn:
            pem = await conn.scalar(
                text("SELECT private_pem FROM identity.signing_key WHERE kid = :kid"), {"kid": kid}
            )
    finally:
        await engine.dispose()
    assert isinstance(pem, str)
    return SigningKey.from_pem(kid, pem)


def _mint(
    platform: Platform,
    key: SigningKey,
    subject: str = SUBJECT,
    *,
    at: datetime | None = None,
    ttl_s: int | None = None,
    issuer: str | None = None,
    audience: str | None = None,
    roles: tuple[str, ...] = ("leader",),
) -> str:
    auth = platform.settings.auth
    if issuer is not None:
        auth = auth.model_copy(update={"issuer": issuer})
    service = TokenService(auth, clock=lambda: at or datetime.now(UTC))
    minted, _ = service.mint(
        subject, key=key, roles=roles, scope=DISTRICT, audience=audience, ttl_s=ttl_s
    )
    return minted


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _hs256_with_public_key(valid: str, key: SigningKey) -> str:
    """The claims of `valid` signed with HMAC-SHA256 whose secret is the platform's public key
    (its PEM, known to everyone): the classic confusion of a verifier that takes the
    algorithm from the token."""
    claims = jwt.decode(valid, options={"verify_signature": False})
    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': key.kid})}.{_b64(claims)}"
    public_pem = key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def _tampered(valid: str) -> str:
    """`valid` with its subject changed and its signature kept."""
    header, _, signature = valid.split(".")
    claims = jwt.decode(valid, options={"verify_signature": False})
    return f"{header}.{_b64({**claims, 'sub': 'admin'})}.{signature}"


def _unsigned(valid: str, key: SigningKey) -> str:
    """`alg: none`, with a signature part that gets it past the edge to the verifier."""
    claims = jwt.decode(valid, options={"verify_signature": False})
    return f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': key.kid})}.{_b64(claims)}.AA"


# Each differs from an admitted token (see the last test) in what its name says.
FORGERIES: dict[str, Callable[[Platform, SigningKey], str]] = {
    "expired": lambda p, k: _mint(p, k, at=datetime.now(UTC) - timedelta(hours=1), ttl_s=60),
    "not-yet-valid": lambda p, k: _mint(p, k, at=datetime.now(UTC) + timedelta(hours=1)),
    "other-issuer": lambda p, k: _mint(p, k, issuer="https://issuer.example.test"),
    "other-audience": lambda p, k: _mint(p, k, audience="another-api"),
    "no-such-account": lambda p, k: _mint(p, k, "mallory", roles=("business_admin",)),
    "signed-by-another-key-same-kid": lambda p, k: _mint(
        p, SigningKey(k.kid, SigningKey.generate().private_key)
    ),
    "signed-by-an-unknown-key": lambda p, k: _mint(p, SigningKey.generate()),
    "alg-none": lambda p, k: _unsigned(_mint(p, k), k),
    "hs256-with-the-public-key": lambda p, k: _hs256_with_public_key(_mint(p, k), k),
    "tampered-claims": lambda p, k: _tampered(_mint(p, k)),
}
MALFORMED = {
    "none": {},
    "garbage": {"Authorization": "Bearer not-a-token"},
    "basic-scheme": {"Authorization": "Basic " + base64.b64encode(b"leader:x").decode()},
    "empty-bearer": {"Authorization": "Bearer "},
    "jwt-shaped-garbage": {"Authorization": "Bearer eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln"},
}


@pytest.mark.parametrize("kind", list(MALFORMED))
async def test_a_request_without_a_token_is_401_at_every_service(
    client: httpx.AsyncClient, kind: str
) -> None:
    for path in READS:
        response = await client.get(path, headers=MALFORMED[kind])
        assert assert_problem(response, 401)["type"].endswith("/unauthorized")
        assert response.headers["www-authenticate"] == "Bearer", path


@pytest.mark.parametrize("kind", list(FORGERIES))
async def test_a_forged_or_unfit_token_is_401_at_every_service(
    platform: Platform, client: httpx.AsyncClient, signing_key: SigningKey, kind: str
) -> None:
    headers = bearer_of(FORGERIES[kind](platform, signing_key))
    for path in READS:
        response = await client.get(path, headers=headers)
        assert_problem(response, 401)
        assert response.headers["www-authenticate"] == "Bearer", path


async def test_the_same_minting_with_nothing_wrong_is_admitted(
    platform: Platform, client: httpx.AsyncClient, signing_key: SigningKey
) -> None:
    """The control of the forgeries above: they fail for what they change, not for the way
    they are made."""
    headers = bearer_of(_mint(platform, signing_key))
    for path in READS:
        response = await client.get(path, headers=headers)
        assert response.status_code == 200, f"{path}: {response.text}"


async def test_a_wrong_password_and_an_unknown_account_get_the_same_answer(
    platform: Platform,
) -> None:
    client = platform.client("198.51.100.21")
    wrong = await token(client, "operator", "Not-The-Password-1")
    unknown = await token(client, "nobody-by-this-name", "Not-The-Password-1")
    for response in (wrong, unknown):
        assert_problem(response, 401)
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert wrong.json()["type"] == unknown.json()["type"]


async def test_five_failures_lock_the_account_even_for_the_right_password(
    platform: Platform,
) -> None:
    attacker = platform.client("198.51.100.22")
    for _ in range(5):
        assert_problem(await token(attacker, "tech", "Guess-Number-0001"), 401)
    for password in (DEMO_PASSWORD, "Guess-Number-0002"):
        locked = assert_problem(await token(attacker, "tech", password), 429)
        assert locked["type"].endswith("/login-locked")
        assert 0 < int((await token(attacker, "tech", password)).headers["retry-after"]) <= 900
    # The owner, from another address, is refused too: the account is locked, not the address.
    owner = platform.client("198.51.100.23")
    assert_problem(await token(owner, "tech", DEMO_PASSWORD), 429)


async def test_a_disabled_accounts_tokens_and_logins_are_refused(
    platform: Platform, client: httpx.AsyncClient
) -> None:
    admin = await login(client, "admin", ADMIN_PASSWORD)
    headers = await open_account(
        client, admin, "leaving.handler", roles=("handler",), scope="town:lujiazui"
    )
    assert (await client.get("/api/v1/workorders", headers=headers)).status_code == 200
    disabled = await client.patch(
        "/api/v1/accounts/leaving.handler", headers=admin, json={"disabled": True}
    )
    assert disabled.status_code == 200, disabled.text

    async def refused_everywhere() -> bool:
        answers = [await client.get(path, headers=headers) for path in READS]
        return all(a.status_code == 401 for a in answers)

    await eventually(refused_everywhere)
    # Its right password opens nothing, with the answer of a wrong one.
    other = platform.client("198.51.100.24")
    refused = assert_problem(await token(other, "leaving.handler", "Harbour-Lamp-6203"), 401)
    wrong = assert_problem(await token(other, "leaving.handler", "Harbour-Lamp-0000"), 401)
    assert refused["detail"] == wrong["detail"]


@pytest.mark.parametrize(
    ("password", "reasons"),
    [
        ("Sh0rt!pw", {"too-short"}),
        ("alllowercaseletters", {"too-few-classes"}),
        ("Password123!", {"common"}),
        ("P@ssw0rd2024!", {"common"}),
        ("My-Handler.Zhangjiang-77", {"contains-username"}),
    ],
)
async def test_the_password_policy_refuses_weak_passwords_with_its_reasons(
    platform: Platform, password: str, reasons: set[str]
) -> None:
    client = platform.client("198.51.100.25")
    changed = await client.post(
        PASSWORD,
        json={
            "username": "handler.zhangjiang",
            "current_password": DEMO_PASSWORD,
            "new_password": password,
        },
    )
    body = assert_problem(changed, 422)
    assert reasons <= {e["code"] for e in body["errors"]}, body
    # ... and so does an administrator's choice for someone else.
    admin = await login(client, "admin", ADMIN_PASSWORD)
    reset = await client.post(
        "/api/v1/accounts/handler.zhangjiang/password", headers=admin, json={"password": password}
    )
    body = assert_problem(reset, 422)
    assert reasons <= {e["code"] for e in body["errors"]}, body
    # The old password still works: nothing was changed.
    await login(client, "handler.zhangjiang", DEMO_PASSWORD)


async def test_a_refresh_token_is_good_once_and_its_reuse_ends_the_session(
    platform: Platform,
) -> None:
    client = platform.client("198.51.100.26")
    first = (await token(client, "operator", DEMO_PASSWORD)).json()["refresh_token"]
    refresh = "/api/v1/auth/refresh"
    second = await client.post(refresh, data={"refresh_token": first})
    assert second.status_code == 200, second.text
    # A copy of the spent token comes back: refused, and the session ends for both holders.
    assert_problem(await client.post(refresh, data={"refresh_token": first}), 401)
    newest = second.json()["refresh_token"]
    assert_problem(await client.post(refresh, data={"refresh_token": newest}), 401)
