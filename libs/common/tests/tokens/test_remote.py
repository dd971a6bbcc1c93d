"""Tokens crossing processes over real HTTP (uvicorn on 127.0.0.1): a service without the issuer
verifies through the issuer's JWKS, also across a key rotation and an issuer that is down; and
a second built-in issuer, with its own database and keys, plays an external OIDC provider whose
tokens the first accepts for its own accounts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import jwt

from riskwatch.common.auth import SigningKey, TokenService
from riskwatch.common.settings import AuthSettings
from riskwatch.devstack._util import free_port

from .conftest import (
    ADMIN_PASSWORD,
    JWKS,
    ME,
    Clock,
    bearer_of,
    fresh_database,
    issuer_app,
    issuer_settings,
    login,
    running_issuer,
    served,
    served_issuer,
    service_client,
    tokens_of,
    unique,
)

WHOAMI = "/api/v1/whoami"


async def test_a_service_verifies_the_issuers_tokens_through_its_jwks(
    make_database: Callable[[str], str],
) -> None:
    url = await fresh_database(make_database, "remote")
    async with served_issuer(url) as (issuer, base):
        client = await issuer.client()
        username = unique("operator")
        await issuer.open_account(username, roles=("business_admin",))
        body = tokens_of(await login(client, username))
        async with service_client(jwks_url=base + JWKS, jwks_min_refetch_s=0) as service:
            seen = await service.get(WHOAMI, headers=bearer_of(body["access_token"]))
            assert seen.status_code == 200, seen.text
            assert seen.json() == {
                "subject": username,
                "roles": ["business_admin"],
                "scope": "district",
            }
            # A key made since: the service fetches the key set again for the unknown kid.
            await issuer.keys.maintain(force=True)
            newer = tokens_of(await login(client, username))["access_token"]
            assert (
                jwt.get_unverified_header(newer)["kid"]
                != jwt.get_unverified_header(body["access_token"])["kid"]
            )
            for token in (body["access_token"], newer):
                assert (await service.get(WHOAMI, headers=bearer_of(token))).status_code == 200
            # A token no key of the issuer signed.
            forged, _ = TokenService(issuer.settings.auth).mint(
                username, key=SigningKey.generate(), roles=("business_admin",)
            )
            assert (await service.get(WHOAMI, headers=bearer_of(forged))).status_code == 401
            assert (await service.get(WHOAMI)).status_code == 401


async def test_a_service_whose_issuer_is_down_answers_503_until_it_is_up(
    make_database: Callable[[str], str],
) -> None:
    url = await fresh_database(make_database, "down")
    port = free_port()
    # A token of the issuer, whose port nothing listens on yet.
    async with running_issuer(url) as issuer:
        token = tokens_of(await login(await issuer.client(), "admin", ADMIN_PASSWORD))
    headers = bearer_of(token["access_token"])
    jwks_url = f"http://127.0.0.1:{port}{JWKS}"
    async with service_client(jwks_url=jwks_url, jwks_min_refetch_s=0) as service:
        down = await service.get(WHOAMI, headers=headers)
        assert down.status_code == 503
        assert down.headers["content-type"] == "application/problem+json"
        assert down.json()["type"].endswith("/keys-unavailable")
        assert "Retry-After" in down.headers
        # The issuer comes up: the same token verifies (admin, the system administrator, may
        # read the catalog).
        async with served(issuer_app(issuer_settings(url), Clock()), port):
            up = await service.get(WHOAMI, headers=headers)
            assert up.status_code == 200, up.text
            assert up.json()["subject"] == "admin"


EXTERNAL = "https://idp.example.test"
EXTERNAL_AUDIENCE = "riskwatch-at-idp"


async def test_an_external_issuers_tokens_open_the_accounts_of_the_same_name(
    make_database: Callable[[str], str],
) -> None:
    idp_url = await fresh_database(make_database, "idp")
    platform_url = await fresh_database(make_database, "platform")
    # The provider: a built-in issuer of its own, with its own database and keys.
    async with served_issuer(idp_url, issuer=EXTERNAL, audience=EXTERNAL_AUDIENCE) as (idp, base):
        trusted = {
            "issuer": EXTERNAL,
            "jwks_url": base + JWKS,
            "audience": EXTERNAL_AUDIENCE,
            "username_claim": "sub",
        }
        async with running_issuer(
            platform_url, trusted_issuers=[trusted], jwks_min_refetch_s=0
        ) as platform:
            username = unique("handler")
            stranger = unique("stranger")
            # The same person at the provider (as a department head there) and here (handler).
            await idp.open_account(username, roles=("department_head",))
            await idp.open_account(stranger)
            await platform.open_account(username, roles=("handler",))
            idp_client = await idp.client()
            external = tokens_of(await login(idp_client, username))["access_token"]
            assert jwt.decode(external, options={"verify_signature": False})["iss"] == EXTERNAL

            client = await platform.client()
            me = await client.get(ME, headers=bearer_of(external))
            assert me.status_code == 200, me.text
            # Roles and scope are the platform's account's, never the provider's.
            assert (me.json()["username"], me.json()["roles"]) == (username, ["handler"])
            assert "workorders:act" in me.json()["permissions"]

            # Refused: a subject with no account here, a token for another audience, a token
            # of an issuer that is not trusted, and one the provider's keys did not sign.
            nobody = tokens_of(await login(idp_client, stranger))["access_token"]
            other_audience, _ = await idp.tokens.issue(username, audience="someone-else")
            untrusted, _ = TokenService(AuthSettings(issuer="https://rogue.test")).mint(
                username, key=SigningKey.generate()
            )
            forged, _ = TokenService(
                AuthSettings(issuer=EXTERNAL, audience=EXTERNAL_AUDIENCE)
            ).mint(username, key=SigningKey.generate())
            for token in (nobody, other_audience, untrusted, forged):
                refused = await client.get(ME, headers=bearer_of(token))
                assert refused.status_code == 401, refused.text

            # A disabled account here ends what the provider's tokens open.
            disabled = await client.patch(
                f"/api/v1/accounts/{username}",
                json={"disabled": True},
                headers=platform.admin_headers(),
            )
            assert disabled.status_code == 200
            assert (await client.get(ME, headers=bearer_of(external))).status_code == 401


async def test_roles_from_an_external_claim_only_when_configured_and_only_known_ones(
    make_database: Callable[[str], str],
) -> None:
    platform_url = await fresh_database(make_database, "claims")
    key = SigningKey.generate()
    document = {"keys": [key.public_jwk()]}
    jwks_app = _static_jwks_app(document)
    async with served(jwks_app) as base:
        trusted = {
            "issuer": EXTERNAL,
            "jwks_url": base + JWKS,
            "audience": EXTERNAL_AUDIENCE,
            "roles_claim": "groups",
        }
        async with running_issuer(platform_url, trusted_issuers=[trusted]) as platform:
            username = unique("viewer")
            await platform.open_account(username, roles=("handler",))
            provider = TokenService(AuthSettings(issuer=EXTERNAL, audience=EXTERNAL_AUDIENCE))
            raw, _ = provider.mint(username, key=key)
            claims = jwt.decode(raw, options={"verify_signature": False})
            claims["preferred_username"] = username
            claims["groups"] = ["leader", "superuser", "tech_lead"]
            token = jwt.encode(claims, key.private_key, algorithm="EdDSA",
                               headers={"kid": key.kid})  # fmt: skip
            me = await (await platform.client()).get(ME, headers=bearer_of(token))
            assert me.status_code == 200, me.text
            # /me shows the account; the token's principal has the claimed, known roles.
            roles = await platform.tokens.verify(token)
            assert roles.roles == ("leader", "tech_lead")
            assert str(roles.scope) == "district"


def _static_jwks_app(document: dict[str, Any]) -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    @app.get(JWKS)
    async def jwks() -> dict[str, Any]:
        return document

    return app


async def test_the_jwks_is_served_over_http_without_private_parts(
    make_database: Callable[[str], str],
) -> None:
    url = await fresh_database(make_database, "jwkshttp")
    async with served_issuer(url) as (_, base), httpx.AsyncClient() as client:
        response = await client.get(base + JWKS)
        assert response.status_code == 200
        assert all("d" not in key for key in response.json()["keys"])
