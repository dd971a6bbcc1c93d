"""OWASP API7:2023, Server Side Request Forgery: an API that fetches a URL the client supplies (a
webhook, an avatar, an import "from URL", a token's `jku`/`x5u` key URL, an issuer's discovery
document), so that a client makes the server reach what the client cannot: the cluster's
services, cloud metadata, the database's port.

RiskWatch takes one URL from a client: a duty center's WeCom / DingTalk group robot
(`robot_url`), a webhook by nature. It is held to the hosts RW_ROBOT_ALLOWED_HOSTS names (the
two platforms' by default) and to https, when it is written and again when it is posted to, and
its posts follow no redirect. No other request body or parameter of any service is a URL, and
what else the platform fetches (the issuer's JWKS for services without it, a trusted external
issuer's JWKS, the SMS and voice gateways, the SMTP server) is named by settings alone
(RW_AUTH__JWKS_URL, RW_AUTH__TRUSTED_ISSUERS, RW_SMS_HTTP_URL, RW_VOICE_HTTP_URL, RW_SMTP_HOST);
a token's key is looked up by `kid` among keys already trusted, never at a URL the token names.
Here the document is scanned, and a server on 127.0.0.1 stands in for an internal target: URLs
to it go everywhere a client can put text, and it must never be asked anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from riskwatch.common.auth import SigningKey, TokenService
from riskwatch.common.settings import ServiceSettings
from riskwatch.notify.settings import NotifySettings

from .conftest import (
    ADMIN_PASSWORD,
    DEMO_PASSWORD,
    Platform,
    Remote,
    assert_problem,
    bearer_of,
    login,
    open_everyone,
    serving,
)

pytestmark = [pytest.mark.postgres]

URL_FORMATS = {"uri", "url", "iri", "uri-reference", "iri-reference", "uri-template"}
URL_NAMES = re.compile(r"url|uri|href|link|callback|webhook|endpoint|host|redirect|jku|x5u", re.I)
# The one URL a client gives, held to an allow-list of hosts (the module's docstring).
ALLOWED_URL_INPUTS = frozenset({"robot_url"})


@pytest.fixture(scope="module")
def target() -> Iterator[Remote]:
    """An internal service the platform can reach and the client cannot (here both can: what
    counts is whether the platform asks it anything)."""
    with serving(Remote()) as remote:
        yield remote


def _schemas(node: Any, components: dict[str, Any], seen: set[str]) -> Iterator[tuple[str, Any]]:
    """Every (property name, schema) reachable from `node`, through $refs, combinators,
    arrays and objects."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            if name not in seen:
                seen.add(name)
                yield from _schemas(components[name], components, seen)
            return
        for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
            for sub in node.get(key, []):
                yield from _schemas(sub, components, seen)
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                yield from _schemas(node[key], components, seen)
        for name, sub in node.get("properties", {}).items():
            yield name, sub
            yield from _schemas(sub, components, seen)


def client_inputs(document: dict[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """(operation, name, schema) of every parameter and every request body property."""
    components = document["components"]["schemas"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            for parameter in operation.get("parameters", []):
                yield where, parameter["name"], parameter.get("schema", {})
            for content in operation.get("requestBody", {}).get("content", {}).values():
                yield where, "(body)", content.get("schema", {})
                for name, schema in _schemas(content.get("schema", {}), components, set()):
                    yield where, name, schema


def test_no_parameter_or_body_property_of_any_service_is_a_url(platform: Platform) -> None:
    inputs = list(client_inputs(platform.app.openapi()))
    # Every service's parameters and body properties, form fields included.
    names = {name for _, name, _ in inputs}
    assert {"device_id", "display_name", "description", "feedback", "password"} <= names
    url_like = [
        (where, name)
        for where, name, schema in inputs
        if isinstance(schema, dict)
        and (schema.get("format") in URL_FORMATS or URL_NAMES.search(name))
        and name not in ALLOWED_URL_INPUTS
    ]
    assert url_like == []


async def test_a_robot_url_to_a_host_not_allowed_is_refused_and_never_asked(
    platform: Platform, client: httpx.AsyncClient, target: Remote
) -> None:
    """An internal host as a duty center's group robot: refused when written (422, the key
    never echoed), and nothing ever asks it anything."""
    admin = await login(client, "admin", ADMIN_PASSWORD)
    everyone = await open_everyone(client, admin, "robot-tester")
    path = "/api/v1/duty-centers"
    for robot in (
        f"wecom:{target.url}/cgi-bin/webhook/send?key=secret-key-1",
        "dingtalk:https://169.254.169.254/latest/meta-data?access_token=secret-key-1",
        "wecom:https://qyapi.weixin.qq.com@127.0.0.1/send?key=secret-key-1",
    ):
        answer = await client.post(
            path,
            json={
                "duty_center_id": "street-ssrf",
                "name": "SSRF street",
                "kind": "street",
                "town_id": "lujiazui",
                "robot_url": robot,
            },
            headers=everyone.for_path(path),
        )
        assert_problem(answer, 422)
        assert "secret-key-1" not in answer.text
    assert target.requests == [], target.paths()


def test_what_the_platform_fetches_is_named_by_settings_and_https_in_production() -> None:
    """The three URLs the platform fetches are settings; an external issuer's keys come over
    https in production (a plain-http JWKS could be swapped on the way)."""
    assert {"jwks_url", "trusted_issuers"} <= set(ServiceSettings().auth.model_dump())
    assert "sms_http_url" in NotifySettings.model_fields
    trusted = {"issuer": "https://idp.test", "jwks_url": "http://idp.test/jwks", "audience": "a"}
    with pytest.raises(ValidationError, match="https"):
        ServiceSettings(
            env="production",
            admin_password="Strong-Admin-Pass-8841",  # type: ignore[arg-type]
            auth={"trusted_issuers": [trusted]},  # type: ignore[arg-type]
        )


async def test_a_token_cannot_name_where_its_key_or_issuer_is_fetched(
    platform: Platform, client: httpx.AsyncClient, target: Remote
) -> None:
    """`jku`, `x5u` and an issuer URL with a discovery document: a verifier that followed
    them would fetch from the target (and trust what it found)."""
    key = SigningKey.generate()
    target.answers["/jwks.json"] = lambda: JSONResponse({"keys": [key.public_jwk()]})
    target.answers["/.well-known/openid-configuration"] = lambda: JSONResponse(
        {"issuer": target.url, "jwks_uri": f"{target.url}/jwks.json"}
    )
    auth = platform.settings.auth
    ours, _ = TokenService(auth).mint("operator", key=key, roles=("business_admin",))
    claims = jwt.decode(ours, options={"verify_signature": False})
    forged = {
        "jku": jwt.encode(
            claims,
            key.private_key,
            algorithm="EdDSA",
            headers={"kid": key.kid, "jku": f"{target.url}/jwks.json"},
        ),
        "x5u": jwt.encode(
            claims,
            key.private_key,
            algorithm="EdDSA",
            headers={"kid": key.kid, "x5u": f"{target.url}/cert.pem"},
        ),
        "jwk-embedded": jwt.encode(
            claims,
            key.private_key,
            algorithm="EdDSA",
            headers={"kid": key.kid, "jwk": key.public_jwk()},
        ),
        "issuer-url": jwt.encode(
            {**claims, "iss": target.url},
            key.private_key,
            algorithm="EdDSA",
            headers={"kid": key.kid},
        ),
    }
    for kind, forgery in forged.items():
        for path in ("/api/v1/auth/me", "/api/v1/workorders", "/api/v1/alarms"):
            refused = await client.get(path, headers=bearer_of(forgery))
            assert_problem(refused, 401)
            assert target.requests == [], f"{kind}: {target.paths()}"


async def test_urls_wherever_a_client_puts_text_are_stored_never_fetched(
    platform: Platform, client: httpx.AsyncClient, target: Remote
) -> None:
    admin = await login(client, "admin", ADMIN_PASSWORD)
    everyone = await open_everyone(client, admin, "url-tester")
    link = f"{target.url}/internal/admin?x=1"
    writes = [
        (
            "put",
            "/api/v1/devices/gas-ssrf-1",
            {"name": link, "site": link, "scenario_id": "gas", "town_id": "lujiazui"},
        ),
        (
            "put",
            "/api/v1/rules/gas-ssrf-1",
            {
                "name": "Gas",
                "description": f"see {link}",
                "scenario_id": "gas",
                "metric": "ch4_lel",
                "red": 50.0,
                "unit": "%LEL",
            },
        ),
        (
            "post",
            "/api/v1/accounts",
            {
                "username": "url-person",
                "display_name": link,
                "password": "Lantern-Quay-5190",
                "roles": ["handler"],
                "scope": "town:lujiazui",
            },
        ),
    ]
    for method, path, body in writes:
        written = await client.request(method, path, json=body, headers=everyone.for_path(path))
        assert written.status_code in (200, 201), f"{path}: {written.text}"
    reads = [
        ("/api/v1/devices/gas-ssrf-1", {}),
        ("/api/v1/alarms", {"device_id": link}),
        ("/api/v1/notifications", {"person_id": link}),
        ("/api/v1/audit", {"resource": link}),
    ]
    for path, params in reads:
        answer = await client.get(
            path,
            params=params,
            headers={
                **everyone.for_path(path),
                "Referer": link,
                "X-Forwarded-Host": link,
                "Origin": link,
            },
        )
        assert answer.status_code in (200, 422), f"{path}: {answer.text}"
    assert target.requests == [], target.paths()
    # The demo's simulator reads it back as the text it is.
    sim = await login(client, "simulator", DEMO_PASSWORD)
    seen = (await client.get("/api/v1/devices/gas-ssrf-1", headers=sim)).json()
    assert seen["site"] == link
