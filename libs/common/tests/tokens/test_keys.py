"""Signing keys: what a key set trusts and when it asks again, the published document, and
rotation on the issuer's clock (old tokens verify until their key is dropped)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jwt
import pytest

from riskwatch.common.access import DISTRICT
from riskwatch.common.auth import KeySet, KeysUnavailable, SigningKey, TokenService, parse_jwks
from riskwatch.common.errors import Unauthorized
from riskwatch.common.settings import AuthSettings

from .conftest import ADMIN_PASSWORD, JWKS, ME, bearer_of, login, running_issuer, tokens_of

# -- the key set, without an issuer ------------------------------------------------------------


class Loader:
    """A JWKS source the test controls: its document, or a failure, and how often it is read."""

    def __init__(self, *keys: SigningKey) -> None:
        self.keys = list(keys)
        self.down = False
        self.calls = 0

    async def __call__(self) -> Mapping[str, Any]:
        self.calls += 1
        if self.down:
            raise ConnectionError("the issuer is down")
        return {"keys": [k.public_jwk() for k in self.keys]}


class Ticks:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_jwks_document_yields_public_signing_keys_only() -> None:
    key = SigningKey.generate()
    public = key.public_jwk()
    assert set(public) == {"kty", "crv", "x", "kid", "alg", "use"}
    assert (public["kty"], public["crv"], public["alg"]) == ("OKP", "Ed25519", "EdDSA")
    private = {**public, "kid": "leaked", "d": "AAAA"}
    encryption = {**public, "kid": "enc", "use": "enc"}
    secret = {"kty": "oct", "k": "c2VjcmV0", "kid": "hs", "alg": "HS256"}
    found = parse_jwks({"keys": [public, private, encryption, secret, {"kty": "OKP"}]})
    assert list(found) == [key.kid]
    with pytest.raises(ValueError, match="JWKS"):
        parse_jwks({"no": "keys"})


def test_a_key_id_is_the_thumbprint_of_the_public_key() -> None:
    key = SigningKey.generate()
    again = SigningKey.from_pem(key.kid, key.private_pem())
    assert again.public_jwk() == key.public_jwk()
    assert SigningKey.generate().kid != key.kid


async def test_an_unknown_kid_reloads_once_per_interval_then_is_refused() -> None:
    old, new = SigningKey.generate(), SigningKey.generate()
    loader, ticks = Loader(old), Ticks()
    keys = KeySet(loader, name="t", max_age_s=300, min_reload_s=30, monotonic=ticks)
    assert (await keys.key(old.kid)).key_id == old.kid
    assert loader.calls == 1
    await keys.key(old.kid)
    assert loader.calls == 1  # cached
    loader.keys.append(new)  # the issuer made a key: the first token it signs brings it in
    ticks.now += 31
    assert (await keys.key(new.kid)).key_id == new.kid
    assert loader.calls == 2
    with pytest.raises(Unauthorized, match="unknown key"):
        await keys.key("forged")  # within 30 s of the last reload: no new request
    assert loader.calls == 2
    ticks.now += 31
    with pytest.raises(Unauthorized, match="unknown key"):
        await keys.key("forged")
    assert loader.calls == 3


async def test_an_issuer_down_at_start_is_unavailable_not_unauthorized() -> None:
    key = SigningKey.generate()
    loader, ticks = Loader(key), Ticks()
    loader.down = True
    keys = KeySet(loader, name="t", min_reload_s=30, monotonic=ticks)
    with pytest.raises(KeysUnavailable) as refused:
        await keys.key(key.kid)
    assert refused.value.status == 503
    loader.down = False
    with pytest.raises(KeysUnavailable):  # asked again only after the interval
        await keys.key(key.kid)
    ticks.now += 30
    assert (await keys.key(key.kid)).key_id == key.kid


async def test_known_keys_outlive_an_outage_and_dropped_keys_stop_verifying() -> None:
    old, new = SigningKey.generate(), SigningKey.generate()
    loader, ticks = Loader(old, new), Ticks()
    keys = KeySet(loader, name="t", max_age_s=300, min_reload_s=30, monotonic=ticks)
    await keys.key(old.kid)
    loader.down = True
    ticks.now += 600  # stale, and the issuer cannot be asked: what is known still verifies
    assert (await keys.key(old.kid)).key_id == old.kid
    with pytest.raises(KeysUnavailable):  # an unknown kid may be a new key: 503
        await keys.key("unknown")
    loader.down = False
    loader.keys = [new]  # the issuer dropped the old key
    ticks.now += 600
    assert (await keys.key(new.kid)).key_id == new.kid
    with pytest.raises(Unauthorized):
        await keys.key(old.kid)


async def test_tokens_verify_with_the_public_half_only() -> None:
    auth = AuthSettings(issuer="riskwatch", audience="riskwatch")
    key = SigningKey.generate()
    tokens = TokenService(auth, keys=KeySet.static({"keys": [key.public_jwk()]}))
    token, ttl = tokens.mint("someone", key=key, roles=("handler",), scope=DISTRICT)
    assert ttl == 15 * 60
    assert jwt.get_unverified_header(token) == {"alg": "EdDSA", "kid": key.kid, "typ": "JWT"}
    principal = await tokens.verify(token)
    assert (principal.subject, principal.roles) == ("someone", ("handler",))
    # Another key under the same kid, an HS256 token, another audience: all refused.
    forged = jwt.encode({"sub": "x"}, SigningKey.generate().private_key, algorithm="EdDSA",
                        headers={"kid": key.kid})  # fmt: skip
    hs = jwt.encode(
        {"iss": "riskwatch", "aud": "riskwatch", "sub": "x", "exp": 2**40},
        "a-shared-secret-of-32-characters!",
        algorithm="HS256",
        headers={"kid": key.kid},
    )
    other, _ = TokenService(auth.model_copy(update={"audience": "other"})).mint("x", key=key)
    for bad in (forged, hs, other, "not-a-token"):
        with pytest.raises(Unauthorized):
            await tokens.verify(bad)
    # Nothing to verify with (no issuer here, no JWKS URL): refused, not an error.
    with pytest.raises(Unauthorized):
        await TokenService(auth).verify(token)


# -- the issuer's keys -------------------------------------------------------------------------


async def test_the_jwks_document_publishes_public_keys_with_cache_headers(tokens_db: str) -> None:
    async with running_issuer(tokens_db, jwks_cache_s=120) as issuer:
        client = await issuer.client()
        response = await client.get(JWKS)
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == "public, max-age=120"
        document = response.json()
        assert document["keys"]
        for jwk in document["keys"]:
            assert set(jwk) == {"kty", "crv", "x", "kid", "alg", "use"}  # never `d`
        assert "PRIVATE" not in response.text
        token = tokens_of(await login(client, "admin", ADMIN_PASSWORD))["access_token"]
        kid = jwt.get_unverified_header(token)["kid"]
        assert kid in {k["kid"] for k in document["keys"]}
        # The document verifies the issuer's tokens on its own.
        outside = TokenService(issuer.settings.auth, keys=KeySet.static(document))
        assert (await outside.verify(token)).subject == "admin"


async def test_keys_rotate_and_old_tokens_verify_until_their_key_is_dropped(
    make_database: Any,
) -> None:
    from .conftest import fresh_database

    url = await fresh_database(make_database, "rotation")
    # A key signs 10 minutes; a new one is published 2 minutes (two cache periods) before.
    async with running_issuer(url, key_rotation_days=10 / (24 * 60), jwks_cache_s=60) as issuer:
        client = await issuer.client()

        async def kid_of_new_token() -> tuple[str, str]:
            token = tokens_of(await login(client, "admin", ADMIN_PASSWORD))["access_token"]
            return token, jwt.get_unverified_header(token)["kid"]

        async def published() -> list[str]:
            return [k["kid"] for k in (await client.get(JWKS)).json()["keys"]]

        first_token, first = await kid_of_new_token()
        assert await published() == [first]
        assert await issuer.keys.maintain() == []  # not due yet

        issuer.clock.advance(10 * 60 + 1)
        [created] = await issuer.keys.maintain()
        second = created.removeprefix("created ")
        assert await published() == [first, second]  # published before it signs
        assert (await kid_of_new_token())[1] == first

        issuer.clock.advance(2 * 60)
        _, now_signing = await kid_of_new_token()
        assert now_signing == second
        # A token of the replaced key, still within its 15 minutes, still opens the API.
        assert (await client.get(ME, headers=bearer_of(first_token))).status_code == 200

        # The replaced key stays published for the longest a token lives (the 12-hour
        # session), then is dropped, and what it signs verifies no more.
        old_key = next(s.key for s in issuer.keys._states if s.key.kid == first)
        issuer.clock.advance(12 * 3600 - 60)
        assert not [c for c in await issuer.keys.maintain() if c.startswith("dropped")]
        issuer.clock.advance(120)
        changes = await issuer.keys.maintain()
        assert f"dropped {first}" in changes
        assert first not in await published()
        late, _ = issuer.tokens.mint("admin", key=old_key, roles=("system_admin",))
        refused = await client.get(ME, headers=bearer_of(late))
        assert refused.status_code == 401, refused.text


async def test_a_forced_rotation_signs_with_the_new_key_at_once(make_database: Any) -> None:
    from .conftest import fresh_database

    url = await fresh_database(make_database, "forced")
    async with running_issuer(url) as issuer:
        client = await issuer.client()
        before = tokens_of(await login(client, "admin", ADMIN_PASSWORD))["access_token"]
        [created] = await issuer.keys.maintain(force=True)
        after = tokens_of(await login(client, "admin", ADMIN_PASSWORD))["access_token"]
        assert jwt.get_unverified_header(after)["kid"] == created.removeprefix("created ")
        assert jwt.get_unverified_header(before)["kid"] != jwt.get_unverified_header(after)["kid"]
        for token in (before, after):
            assert (await client.get(ME, headers=bearer_of(token))).status_code == 200


async def test_keys_rotate_from_the_command_line(make_database: Any) -> None:
    from riskwatch.common.cli import rotate_keys

    from .conftest import fresh_database, issuer_settings

    url = await fresh_database(make_database, "cli")
    settings = issuer_settings(url)
    [first] = await rotate_keys(settings)  # none yet: the first one
    [second] = await rotate_keys(settings)
    assert first.startswith("created ")
    assert second.startswith("created ")
    assert first != second
    async with running_issuer(url) as issuer:
        token = tokens_of(await login(await issuer.client(), "admin", ADMIN_PASSWORD))
        assert jwt.get_unverified_header(token["access_token"])["kid"] == second.split()[1]
