"""Issue 7, section 7: "any correctly signed token is accepted even when its subject is no
account (a token for `mallory` with no roles closed a work order)". Every service checks a
token against a live, enabled account of its projection of identity (ADR 0015), takes the
caller's roles and scope from the account, and a password change or a disabling revokes the
account's tokens on every service once identity's event has reached it.

Each app runs in-process on the in-process bus and a real PostgreSQL (one database, a schema
per service, as in the distributed mode).
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from riskwatch.alerting.app import create_app as alerting_app
from riskwatch.alerting.settings import AlertingSettings
from riskwatch.common.auth import KeySet, TokenService
from riskwatch.common.bus import MemoryBus
from riskwatch.common.errors import PROBLEM_JSON
from riskwatch.common.events import decode
from riskwatch.common.events.audit import AuditRecorded
from riskwatch.common.events.topics import AUDIT
from riskwatch.common.principals import REVOKED, UNKNOWN
from riskwatch.common.settings import AuthSettings
from riskwatch.common.testing import (
    announce_account,
    app_client,
    bearer,
    eventually,
    grant,
    migrate,
)
from riskwatch.embedded.platform import create_platform, migration_dirs
from riskwatch.embedded.settings import EmbeddedSettings
from riskwatch.ingest.app import create_app as ingest_app
from riskwatch.ingest.settings import IngestSettings
from riskwatch.notify.app import create_app as notify_app
from riskwatch.notify.settings import NotifySettings
from riskwatch.reporting.app import create_app as reporting_app
from riskwatch.reporting.settings import ReportingSettings
from riskwatch.workorder.app import create_app as workorder_app
from riskwatch.workorder.settings import WorkOrderSettings

pytestmark = [pytest.mark.postgres]

ADMIN_PASSWORD = "Tidal-Gate-4471"
FAST = {"bus": "memory", "outbox_poll_interval_s": 0.05}


@dataclass(frozen=True)
class Service:
    """One app under test and a read it serves to any operator."""

    app: FastAPI
    auth: AuthSettings
    read: str


def service(name: str, url: str, bus: MemoryBus) -> Service:
    database = {"url": url}
    match name:
        case "ingest":
            s1 = IngestSettings(**FAST, database=database)  # type: ignore[arg-type]
            return Service(ingest_app(s1, bus=bus), s1.auth, "/api/v1/catalog")
        case "alerting":
            s2 = AlertingSettings(**FAST, database=database)  # type: ignore[arg-type]
            return Service(alerting_app(s2, bus=bus), s2.auth, "/api/v1/rules")
        case "workorder":
            s3 = WorkOrderSettings(**FAST, database=database)  # type: ignore[arg-type]
            return Service(workorder_app(s3, bus=bus), s3.auth, "/api/v1/workorders")
        case "notify":
            s4 = NotifySettings(**FAST, database=database)  # type: ignore[arg-type]
            return Service(notify_app(s4, bus=bus), s4.auth, "/api/v1/notifications")
        case "reporting":
            s5 = ReportingSettings(**FAST, database=database)  # type: ignore[arg-type]
            return Service(
                reporting_app(s5, bus=bus), s5.auth, "/api/v1/reports/monthly?month=2026-11"
            )
        case _:
            s6 = EmbeddedSettings(
                data_dir=Path(tempfile.mkdtemp(prefix="rw-live-accounts-")),
                feed=False,
                admin_password=SecretStr(ADMIN_PASSWORD),
            )
            return Service(create_platform(s6, url, bus=bus), s6.auth, "/api/v1/workorders")


SERVICES = ["ingest", "alerting", "workorder", "notify", "reporting", "embedded"]


@pytest.fixture(scope="module")
async def db(make_database: Callable[[str], str]) -> str:
    url = make_database("live_accounts")
    await migrate(url, migration_dirs())  # identity, the audit trail and all five services
    return url


def refusals(bus: MemoryBus, actor: str) -> list[AuditRecorded]:
    found = []
    for message in bus.records(AUDIT):
        data = decode(list(message.headers), message.value).data
        if isinstance(data, AuditRecorded) and data.actor == actor:
            found.append(data)
    return [r for r in found if r.action == "auth.rejected"]


@pytest.mark.parametrize("name", SERVICES)
async def test_a_token_for_no_account_is_401_on_every_service(name: str, db: str) -> None:
    bus = MemoryBus()
    under_test = service(name, db, bus)
    async with app_client(under_test.app) as client:
        # Correctly signed, claiming every business role: no account behind it.
        mallory = bearer(under_test.auth, "mallory", roles=("business_admin", "handler"))
        refused = await client.get(under_test.read, headers=mallory)
        assert refused.status_code == 401, refused.text
        assert refused.headers["content-type"] == PROBLEM_JSON
        assert refused.headers["www-authenticate"] == "Bearer"
        assert refused.json()["detail"] == UNKNOWN
        if name in ("workorder", "embedded"):
            closed = await client.post(
                "/api/v1/workorders/any/close", json={"feedback": "done"}, headers=mallory
            )
            assert closed.status_code == 401  # not even a 404: nothing is looked at

        # The refusal is in the audit trail, with the subject and the roles it claimed.
        recorded = refusals(bus, "mallory")
        assert recorded, "no auth.rejected record"
        assert (recorded[0].outcome, recorded[0].status) == ("denied", 401)
        assert recorded[0].reason == UNKNOWN
        assert recorded[0].roles == ["business_admin", "handler"]

        # The same kind of token, for an account the service knows, is admitted.
        known = f"probe-{name}-{uuid.uuid4().hex[:6]}"
        await grant(under_test.app, known)
        admitted = await client.get(under_test.read, headers=bearer(under_test.auth, known))
        assert admitted.status_code == 200, admitted.text


async def test_roles_and_scope_come_from_the_account_not_the_token(db: str) -> None:
    bus = MemoryBus()
    under_test = service("alerting", db, bus)
    rule = {
        "name": "Gas leak",
        "scenario_id": "gas",
        "metric": "ch4_lel",
        "direction": "above",
        "red": 50.0,
        "unit": "%LEL",
    }
    async with app_client(under_test.app) as client:
        who = f"tech-{uuid.uuid4().hex[:6]}"
        # The token claims business_admin (rules:write); the account is a leader (read-only).
        await grant(under_test.app, who, roles=("leader",))
        token = bearer(under_test.auth, who, roles=("business_admin",))
        assert (await client.get("/api/v1/rules", headers=token)).status_code == 200
        put = await client.put(f"/api/v1/rules/gas-{who}", json=rule, headers=token)
        assert put.status_code == 403, put.text

        # Identity gives it the role (same epoch: no revocation): the next request may write.
        await announce_account(bus, who, roles=("leader", "business_admin"))

        async def may_write() -> bool:
            put = await client.put(f"/api/v1/rules/gas-{who}", json=rule, headers=token)
            return put.status_code in (200, 201)

        await eventually(may_write)

        # ... and takes it away again: the token still claims it, and counts for nothing.
        await announce_account(bus, who, roles=("leader",))

        async def may_not_write() -> bool:
            put = await client.put(f"/api/v1/rules/gas-{who}", json=rule, headers=token)
            return put.status_code == 403

        await eventually(may_not_write)


async def _token(issuer: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    response = await issuer.post(
        "/api/v1/auth/token", data={"username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _status(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> int:
    return (await client.get(path, headers=headers)).status_code


async def _refused_with(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], detail: str
) -> bool:
    response = await client.get(path, headers=headers)
    return response.status_code == 401 and response.json()["detail"] == detail


async def test_account_changes_at_the_issuer_reach_another_service(db: str) -> None:
    """Distributed mode in one process: ingest hosts the issuer, workorder is another service
    on the same bus. Each change is made through identity's API and takes effect on workorder
    once its event has arrived (waited for, never slept)."""
    bus = MemoryBus()
    issuer_settings = IngestSettings(
        **FAST,  # type: ignore[arg-type]
        database={"url": db},  # type: ignore[arg-type]
        auth={"builtin_issuer": True},  # type: ignore[arg-type]
        admin_password=ADMIN_PASSWORD,  # type: ignore[arg-type]
    )
    workorder = service("workorder", db, bus)
    orders = "/api/v1/workorders"
    user = f"huamu-{uuid.uuid4().hex[:6]}"
    passwords = ["Valve-Well-7731", "Valve-Well-7732", "Valve-Well-7733"]
    async with (
        app_client(ingest_app(issuer_settings, bus=bus)) as issuer,
        app_client(workorder.app) as other,
    ):
        workorder.app.state.tokens = TokenService(workorder.auth, keys=_keys_of(issuer))
        admin = await _token(issuer, "admin", ADMIN_PASSWORD)
        await eventually(lambda: _ok(issuer, "/api/v1/accounts", admin))
        created = await issuer.post(
            "/api/v1/accounts",
            headers=admin,
            json={
                "username": user,
                "display_name": "Huamu handler",
                "password": passwords[0],
                "roles": ["handler"],
                "scope": "town:huamu",
            },
        )
        assert created.status_code == 201, created.text
        await _change_password(issuer, user, passwords[0], passwords[1])
        first = await _token(issuer, user, passwords[1])
        # A new account is usable on another service once its snapshot arrived there.
        await eventually(lambda: _ok(other, orders, first))

        # A password change revokes the tokens issued before it, everywhere.
        await _change_password(issuer, user, passwords[1], passwords[2])
        await eventually(lambda: _refused_with(other, orders, first, REVOKED))
        second = await _token(issuer, user, passwords[2])
        await eventually(lambda: _ok(other, orders, second))

        # A role removed takes effect at once: the change ends the account's tokens, and the
        # next one acts with what is left (a leader reads work orders, never accepts one).
        changed = await issuer.patch(
            f"/api/v1/accounts/{user}", headers=admin, json={"roles": ["leader"]}
        )
        assert changed.status_code == 200, changed.text
        await eventually(lambda: _refused_with(other, orders, second, REVOKED))
        third = await _token(issuer, user, passwords[2])
        await eventually(lambda: _ok(other, orders, third))
        accept = await other.post(f"{orders}/any/accept", headers=third)
        assert accept.status_code == 403, accept.text

        # Disabling it: 401 on the other service too.
        disabled = await issuer.patch(
            f"/api/v1/accounts/{user}", headers=admin, json={"disabled": True}
        )
        assert disabled.status_code == 200, disabled.text
        await eventually(lambda: _refused_with(other, orders, third, UNKNOWN))


async def _ok(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> bool:
    return await _status(client, path, headers) == 200


def _keys_of(issuer: httpx.AsyncClient) -> KeySet:
    """The issuer's public keys, read from its JWKS document as RW_AUTH__JWKS_URL would."""

    async def load() -> Mapping[str, Any]:
        document: dict[str, Any] = (await issuer.get("/.well-known/jwks.json")).json()
        return document

    return KeySet(load, name="issuer", min_reload_s=0.0)


async def _change_password(issuer: httpx.AsyncClient, user: str, old: str, new: str) -> None:
    response = await issuer.post(
        "/api/v1/auth/password",
        json={"username": user, "current_password": old, "new_password": new},
    )
    assert response.status_code == 204, response.text
