"""OWASP API10:2023, Unsafe Consumption of APIs: trusting what a third-party API answers more than
what users send: an identity provider's tokens and key set, an SMS gateway's replies, redirects
they answer with.

RiskWatch consumes two: a trusted external OIDC issuer (RW_AUTH__TRUSTED_ISSUERS, ADR 0014),
whose tokens must carry its issuer and its configured audience, are verified with its published
asymmetric keys only (symmetric or private keys in its key set are ignored, a redirect is not
followed, an unusable key set is a 503, not a pass), name a local account, and get that account's
roles and scope, never the token's; and the SMS gateway (RW_SMS_PROVIDER=http), whose answer
counts only as a 2xx JSON object with Code "OK" and a message id (BizId): anything else is a
failed send, retried, reported in RiskWatch's own words, never the gateway's. Both are played by
a real HTTP server on 127.0.0.1 that the platform of this module is configured with.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import pytest
from fastapi import Response
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse

from riskwatch.common.auth import SigningKey, TokenService
from riskwatch.common.settings import AuthSettings, TrustedIssuer
from riskwatch.common.testing import eventually
from riskwatch.notify.notifications.sms import HttpSmsProvider, SendError

from .conftest import (
    DEMO_PASSWORD,
    ME,
    Platform,
    Remote,
    assert_problem,
    bearer_of,
    login,
    serving,
)

pytestmark = [pytest.mark.postgres]

EXTERNAL = "https://idp.example.test"
AUDIENCE = "riskwatch-at-idp"
JWKS = "/idp/jwks.json"
SMS = "/sms"
IDP_KEY = SigningKey.generate()
NO_MESSAGE_ID = "SMS provider answered without a message id"
NOT_JSON = "SMS provider answered something that is not JSON"


def jwks(*keys: dict[str, Any]) -> Callable[[], Response]:
    return lambda: JSONResponse({"keys": list(keys)})


@pytest.fixture(scope="module")
def remote() -> Iterator[Remote]:
    """The identity provider and the SMS gateway, at first well-behaved."""
    with serving(Remote()) as server:
        server.answers[JWKS] = jwks(IDP_KEY.public_jwk())
        yield server


@pytest.fixture(scope="module")
def platform_options(remote: Remote) -> dict[str, Any]:
    trusted = TrustedIssuer(issuer=EXTERNAL, jwks_url=remote.url + JWKS, audience=AUDIENCE)
    # Every unknown kid reloads the key set at once (by default at most every 30 s).
    return {"auth": AuthSettings(trusted_issuers=[trusted], jwks_min_refetch_s=0)}


@pytest.fixture(scope="module")
def platform_env(remote: Remote) -> dict[str, str]:
    return {
        "RW_SMS_PROVIDER": "http",
        "RW_SMS_HTTP_URL": remote.url + SMS,
        "RW_DISPATCHER_POLL_INTERVAL_S": "0.1",
        "RW_DISPATCHER_RETRY_INITIAL_S": "0.5",
        "RW_DISPATCHER_RETRY_MAX_S": "1",
        "RW_DISPATCHER_MAX_ATTEMPTS": "1000",
        # Retried in our words, not given up: no voice fallback, no breaker in the way.
        "RW_FALLBACK_AFTER_FAILURES": "1000",
        "RW_BREAKER_FAILURES": "1000",
    }


def external(
    username: str = "handler.lujiazui",
    *,
    key: SigningKey = IDP_KEY,
    issuer: str = EXTERNAL,
    audience: str | None = AUDIENCE,
    **claims: Any,
) -> str:
    """A token of the external issuer, its subject in `preferred_username`."""
    minted, _ = TokenService(AuthSettings(issuer=issuer, audience=audience or "x")).mint(
        f"idp|{username}", key=key, roles=("system_admin", "audit_admin")
    )
    body = jwt.decode(minted, options={"verify_signature": False})
    body = {**body, "preferred_username": username, **claims}
    if audience is None:
        del body["aud"]
    return jwt.encode(body, key.private_key, algorithm="EdDSA", headers={"kid": key.kid})


# -- the external issuer ---------------------------------------------------------------------


@pytest.fixture(scope="module")
async def accounts_known(client: httpx.AsyncClient) -> None:
    """The demo accounts have reached every service (ADR 0015) before tokens name them."""
    await login(client, "handler.lujiazui", DEMO_PASSWORD)


@pytest.mark.usefixtures("accounts_known")
async def test_an_external_token_opens_the_local_account_with_the_accounts_roles(
    client: httpx.AsyncClient,
) -> None:
    headers = bearer_of(external())
    me = await client.get(ME, headers=headers)
    assert me.status_code == 200, me.text
    assert (me.json()["username"], me.json()["roles"]) == ("handler.lujiazui", ["handler"])
    assert (await client.get("/api/v1/workorders", headers=headers)).status_code == 200
    # The token claims the administrators' roles: they count for nothing.
    for path in ("/api/v1/audit", "/api/v1/accounts"):
        assert_problem(await client.get(path, headers=headers), 403)


def _hs256(claims: dict[str, Any], secret: bytes, kid: str) -> str:
    def part(data: dict[str, Any]) -> str:
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    signing_input = f"{part({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{part(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


@pytest.mark.usefixtures("accounts_known")
async def test_an_external_token_must_be_the_issuers_for_us_and_for_an_account(
    client: httpx.AsyncClient, remote: Remote
) -> None:
    secret = b"published-by-a-careless-idp"
    symmetric = {"kty": "oct", "k": base64.urlsafe_b64encode(secret).decode(), "kid": "sym"}
    leaked = SigningKey.generate()
    leaky = {**leaked.public_jwk(), "kid": "leaky", "d": "private-part"}
    # The provider's key set also holds a symmetric key and a key with its private part.
    remote.answers[JWKS] = jwks(IDP_KEY.public_jwk(), symmetric, leaky)
    claims = jwt.decode(external(), options={"verify_signature": False})
    refused = {
        "another-audience": external(audience="someone-else"),
        "no-audience": external(audience=None),
        "our-own-audience-from-them": external(audience="riskwatch"),
        "untrusted-issuer": external(issuer="https://rogue.example.test"),
        "not-their-key": external(key=SigningKey(IDP_KEY.kid, SigningKey.generate().private_key)),
        "no-such-account": external("mallory"),
        "no-username": external(preferred_username=None),
        "hs256-with-their-symmetric-key": _hs256(claims, secret, "sym"),
        "key-published-with-its-private-part": external(
            key=SigningKey("leaky", leaked.private_key)
        ),
    }
    for kind, forged in refused.items():
        answer = await client.get(ME, headers=bearer_of(forged))
        assert_problem(answer, 401)
        assert answer.headers["www-authenticate"] == "Bearer", kind
    assert (await client.get(ME, headers=bearer_of(external()))).status_code == 200


@pytest.mark.usefixtures("accounts_known")
@pytest.mark.parametrize(
    ("kind", "answer"),
    [
        ("html", lambda: PlainTextResponse("<html>maintenance</html>", media_type="text/html")),
        ("not-a-key-set", lambda: JSONResponse({"issuer": EXTERNAL})),
        ("a-list", lambda: JSONResponse([{"kty": "OKP"}])),
        ("server-error", lambda: JSONResponse({"error": "down"}, status_code=500)),
        ("redirect", lambda: RedirectResponse("/idp/elsewhere.json", status_code=302)),
    ],
)
async def test_an_unusable_key_set_is_a_503_never_a_pass(
    client: httpx.AsyncClient, remote: Remote, kind: str, answer: Callable[[], Response]
) -> None:
    """A token signed with a key the platform has not seen makes it fetch the key set again;
    an answer it cannot use is an outage (503, retry), not a reason to accept or to fail."""
    remote.answers[JWKS] = jwks(IDP_KEY.public_jwk())
    assert (await client.get(ME, headers=bearer_of(external()))).status_code == 200
    newer = SigningKey.generate()
    # Where the redirect points, a key set holding the newer key: it must not be fetched.
    remote.answers["/idp/elsewhere.json"] = jwks(IDP_KEY.public_jwk(), newer.public_jwk())
    remote.answers[JWKS] = answer
    before = len(remote.requests)
    unavailable = assert_problem(await client.get(ME, headers=bearer_of(external(key=newer))), 503)
    assert unavailable["type"].endswith("/keys-unavailable")
    assert "/idp/elsewhere.json" not in remote.paths()[before:]
    # The keys it had still verify.
    assert (await client.get(ME, headers=bearer_of(external()))).status_code == 200
    remote.answers[JWKS] = jwks(IDP_KEY.public_jwk())


# -- the SMS gateway -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "answer", "message"),
    [
        ("html", lambda: PlainTextResponse("<html>ok</html>", media_type="text/html"), NOT_JSON),
        (
            "bad-json",
            lambda: Response(b'{"Code": "OK", "BizId": "gw-1"', media_type="application/json"),
            NOT_JSON,
        ),
        (
            "a-list",
            lambda: JSONResponse([{"Code": "OK", "BizId": "gw-1"}]),
            "SMS provider answered something that is not a JSON object",
        ),
        (
            "no-code",
            lambda: JSONResponse({"BizId": "gw-1"}),
            "SMS provider answered without a Code",
        ),
        ("null-id", lambda: JSONResponse({"Code": "OK", "BizId": None}), NO_MESSAGE_ID),
        ("empty-id", lambda: JSONResponse({"Code": "OK", "BizId": ""}), NO_MESSAGE_ID),
        ("object-id", lambda: JSONResponse({"Code": "OK", "BizId": {"id": "gw-1"}}), NO_MESSAGE_ID),
        ("list-id", lambda: JSONResponse({"Code": "OK", "BizId": ["gw-1"]}), NO_MESSAGE_ID),
        ("no-body", lambda: Response(status_code=204), NOT_JSON),
    ],
)
async def test_a_malformed_gateway_answer_is_a_failed_send(
    remote: Remote, kind: str, answer: Callable[[], Response], message: str
) -> None:
    remote.answers["/sms-" + kind] = answer
    provider = HttpSmsProvider(f"{remote.url}/sms-{kind}", timeout_s=5)
    try:
        with pytest.raises(SendError) as caught:
            await provider.send(to="+8610000000301", text="t", idempotency_key=f"k-{kind}")
    finally:
        await provider.aclose()
    assert str(caught.value) == message
    assert caught.value.retryable


async def test_a_gateway_redirect_is_not_followed(remote: Remote) -> None:
    remote.answers["/sms-moved"] = lambda: RedirectResponse("/sms-elsewhere", status_code=307)
    remote.answers["/sms-elsewhere"] = lambda: JSONResponse({"Code": "OK", "BizId": "gw-else"})
    provider = HttpSmsProvider(f"{remote.url}/sms-moved", timeout_s=5)
    try:
        with pytest.raises(SendError, match="HTTP 307"):
            await provider.send(to="+8610000000301", text="t", idempotency_key="k-moved")
    finally:
        await provider.aclose()
    assert "/sms-elsewhere" not in remote.paths()


async def test_the_platform_retries_sms_the_gateway_answered_badly_in_its_own_words(
    platform: Platform, client: httpx.AsyncClient, remote: Remote
) -> None:
    """End to end: an alarm's SMS meet a gateway that answers 200 with a page instead of JSON;
    they are failed attempts, retried, described in our words, and sent once it answers well."""
    gateway_text = "<html>Gateway says: internal detail 7731</html>"
    remote.answers[SMS] = lambda: PlainTextResponse(gateway_text, media_type="text/html")
    sim = await login(client, "simulator", DEMO_PASSWORD)
    rule = {"name": "Gas", "scenario_id": "gas", "metric": "ch4_lel", "red": 50.0, "unit": "%"}
    assert (await client.put("/api/v1/rules/gas-sms", json=rule, headers=sim)).is_success
    device = {"name": "Valve well", "scenario_id": "gas", "town_id": "lujiazui"}
    assert (await client.put("/api/v1/devices/gas-sms-1", json=device, headers=sim)).is_success
    reading = {"device_id": "gas-sms-1", "metric": "ch4_lel", "value": 80.0}
    reading["ts"] = datetime.now(UTC).isoformat()
    posted = await client.post("/api/v1/readings", json=[reading], headers=sim)
    assert posted.status_code == 202, posted.text

    async def alarm_raised() -> str | None:
        page = await client.get("/api/v1/alarms", headers=sim, params={"device_id": "gas-sms-1"})
        items = page.json()["items"]
        return str(items[0]["alarm_id"]) if items else None

    alarm_id = await eventually(alarm_raised)

    async def sms_of_the_alarm() -> list[dict[str, Any]]:
        page = await client.get(
            "/api/v1/notifications",
            headers=sim,
            params={"alarm_id": alarm_id, "channel": "sms", "limit": 500},
        )
        items: list[dict[str, Any]] = page.json()["items"]
        return items

    async def failed_in_our_words() -> list[dict[str, Any]] | None:
        sms = await sms_of_the_alarm()
        tried = [n for n in sms if n["attempts"] >= 1 and n["last_error"]]
        return tried if sms and len(tried) == len(sms) else None

    failed = await eventually(failed_in_our_words)
    for notification in failed:
        assert notification["last_error"] == NOT_JSON
        assert notification["status"] in ("pending", "sending")  # to be tried again
        assert notification["provider_message_id"] is None
        assert "7731" not in json.dumps(notification)
    assert remote.paths().count(SMS) >= len(failed)

    remote.answers[SMS] = lambda: JSONResponse({"Code": "OK", "BizId": "gw-accepted"})

    async def sent() -> bool:
        sms = await sms_of_the_alarm()
        return all(n["status"] == "sent" and n["provider_message_id"] == "gw-accepted" for n in sms)

    await eventually(sent)
