"""Settings, auth tokens, cursors, catalog, backoff: the small mechanisms, without I/O."""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from riskwatch.common.auth import KeySet, SigningKey, TokenService
from riskwatch.common.catalog import default_catalog, load_catalog
from riskwatch.common.errors import Invalid, Unauthorized
from riskwatch.common.events.topics import dlq_topic, readings_topic
from riskwatch.common.pagination import decode_cursor, encode_cursor
from riskwatch.common.retry import backoff, is_transient
from riskwatch.common.settings import AuthSettings, ServiceSettings


def test_tokens_need_no_shared_secret_and_external_keys_come_over_https(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No JWT secret is left to configure, or to leave at a placeholder: production starts.
    monkeypatch.setenv("RW_AUTH__JWT_SECRET", "changeme")
    production = ServiceSettings(env="production")
    assert not {"jwt_secret", "jwt_algorithm"} & set(AuthSettings.model_fields)
    assert production.auth.require_totp_for_admins is True
    monkeypatch.setenv(
        "RW_AUTH__TRUSTED_ISSUERS",
        json.dumps([{"issuer": "https://sso.example", "jwks_url": "http://sso.example/jwks",
                     "audience": "riskwatch"}]),
    )  # fmt: skip
    with pytest.raises(ValidationError, match="https"):
        ServiceSettings(env="production")
    [trusted] = ServiceSettings(env="development").auth.trusted_issuers
    assert (trusted.issuer, trusted.username_claim, trusted.roles_claim) == (
        "https://sso.example",
        "preferred_username",
        None,
    )
    with pytest.raises(ValidationError, match="SESSION_IDLE_S"):
        ServiceSettings(auth={"session_idle_s": 7200, "session_max_s": 3600})  # type: ignore[arg-type]


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RW_SECTORS", "construction, emergency")
    monkeypatch.setenv("RW_DATABASE__URL", "postgresql+asyncpg://u@h:1/db")
    monkeypatch.setenv("RW_KAFKA__BOOTSTRAP_SERVERS", "k:9092")
    s = ServiceSettings()
    assert s.sectors == ["construction", "emergency"]
    assert s.database.url.endswith("/db")
    assert s.kafka.bootstrap_servers == "k:9092"
    assert not s.serves_all_sectors()


async def test_tokens_round_trip_and_reject_tampering() -> None:
    auth = AuthSettings()
    key = SigningKey.generate()
    now = datetime.now(UTC)
    clock = Clock(now)
    tokens = TokenService(auth, keys=KeySet.static({"keys": [key.public_jwk()]}), clock=clock)
    token, ttl = tokens.mint("duty-officer", key=key, roles=("handler",))
    principal = await tokens.verify(token)
    assert (principal.subject, principal.roles, ttl) == (
        "duty-officer",
        ("handler",),
        auth.access_token_ttl_s,
    )
    other_key = KeySet.static({"keys": [{**SigningKey.generate().public_jwk(), "kid": key.kid}]})
    with pytest.raises(Unauthorized):
        await TokenService(auth, keys=other_key).verify(token)
    with pytest.raises(Unauthorized):
        await TokenService(auth.model_copy(update={"audience": "other"}), keys=tokens._keys).verify(
            token
        )
    clock.now = now + timedelta(seconds=ttl + 31)  # past its 15 minutes and the leeway
    with pytest.raises(Unauthorized, match="expired"):
        await tokens.verify(token)
    clock.now = now - timedelta(minutes=5)  # not valid before it was issued
    with pytest.raises(Unauthorized, match="not valid yet"):
        await tokens.verify(token)
    # The signature decides, whatever the header says: no "none", no shared secret.
    unsigned = jwt.encode({"sub": "x", "iss": auth.issuer, "aud": auth.audience}, None,
                          algorithm="none", headers={"kid": key.kid})  # fmt: skip
    with pytest.raises(Unauthorized):
        await tokens.verify(unsigned)


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


# Ids as stored: PostgreSQL text holds no NUL, and ids hold no other control character.
ids = st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=80)


@given(st.datetimes(timezones=st.just(UTC)), ids)
def test_cursors_round_trip(at: datetime, id_: str) -> None:
    assert decode_cursor(encode_cursor(at, id_)) == (at, id_)


def _forged(at: str, id_: str) -> str:
    raw = json.dumps([at, id_]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "!!!",
        "bm90IGpzb24",
        "WyIyMDI2LTAxLTAxIiwgMV0",
        _forged("2026-01-01T00:00:00+00:00", "gas-1\u0000"),  # a NUL would fail the query
        _forged("0001-01-01T00:00:00+05:00", "gas-1"),  # no UTC time: the driver refuses it
    ],
)
def test_bad_cursors_are_invalid_input(bad: str) -> None:
    with pytest.raises(Invalid):
        decode_cursor(bad)


def test_default_catalog_has_the_pudong_shape() -> None:
    catalog = default_catalog()
    assert len(catalog.sectors) == 7
    assert len(catalog.scenarios) == 15
    assert len(catalog.towns) == 36
    assert sum(t.kind == "street" for t in catalog.towns) == 12
    assert catalog.sector_of_scenario("gas") == "construction"
    assert catalog.sector_of_scenario("elevators") == "market"
    assert catalog.resolve_sectors(["all"]) == catalog.sector_ids()
    with pytest.raises(ValueError, match="unknown sector"):
        catalog.resolve_sectors(["nope"])
    for sector in catalog.sector_ids():
        assert readings_topic(sector).startswith("rw.")


def test_a_catalog_with_dangling_references_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "district: {id: d, name: D}\n"
        "departments: [{id: dep, name: Dep}]\n"
        "sectors: [{id: s, name: S, department_id: missing}]\n"
        "scenarios: [{id: x, name: X, sector_id: s2}]\n"
        "towns: []\n",
        encoding="utf-8",
    )
    with pytest.raises(ValidationError) as info:
        load_catalog(path)
    text = str(info.value)
    assert "unknown department missing" in text
    assert "unknown sector s2" in text


def test_topic_names_refuse_unsafe_sector_ids() -> None:
    with pytest.raises(ValueError, match="sector id"):
        readings_topic("Gas/../x")
    assert dlq_topic("alerting.construction") == "rw.dlq.alerting.construction"


@given(st.integers(min_value=1, max_value=10**9))
def test_backoff_is_capped_jittered_and_never_overflows(attempt: int) -> None:
    cap = backoff(attempt, initial=0.1, maximum=5.0, jitter=False)
    assert 0.1 <= cap <= 5.0
    assert backoff(attempt + 1, initial=0.1, maximum=5.0, jitter=False) >= cap
    assert 0.0 <= backoff(attempt, initial=0.1, maximum=5.0) <= cap


def test_infrastructure_failures_are_transient_and_bugs_are_not() -> None:
    assert is_transient(ConnectionRefusedError())
    assert is_transient(TimeoutError())
    assert not is_transient(ValueError("bad payload"))
    assert not is_transient(KeyError("x"))


def test_repeated_driver_errors_are_logged_once_per_interval() -> None:
    from riskwatch.common.logging import RepeatFilter

    f = RepeatFilter(("aiokafka",), interval_s=10)

    def record(name: str, at: float, msg: str = "Unable connect to node %s") -> logging.LogRecord:
        r = logging.LogRecord(name, logging.ERROR, __file__, 1, msg, ("1",), None)
        r.created = at
        return r

    passed = [f.filter(record("aiokafka.conn", t)) for t in (0, 1, 2, 3)]
    assert passed == [True, False, False, False]
    later = record("aiokafka.conn", 11)
    assert f.filter(later)
    assert "3 more like it" in str(later.msg)
    assert f.filter(record("riskwatch.app", 1))  # ours are never held back
    assert f.filter(record("aiokafka.conn", 2, "another kind of failure"))
