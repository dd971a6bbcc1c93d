"""OWASP API5:2023, Broken Function Level Authorization: operations that check who the caller
is but not whether the caller's role may do that (a handler changing alarm rules, the system
administrator reading the audit trail, a gateway reading work orders).

RiskWatch answers with one permission per route (`require(Permission.X)`, ADR 0013), granted by
the roles of the caller's account (the account's, not the token's claims), with the three
administrators separated: the system administrator manages accounts and cannot read alarms or
the trail, the audit administrator reads the trail and nothing else. A refusal is a 403
problem, recorded in the audit trail. Here every operation of the platform is called by an
account of every role, with bodies and ids that change nothing when the call is allowed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from riskwatch.common.access import Permission, permissions_of
from riskwatch.common.testing import bearer, eventually

from .conftest import ADMIN_PASSWORD, DEMO_PASSWORD, Platform, assert_problem, login, open_account

pytestmark = [pytest.mark.postgres]

# One account per role: the demo's, and two more opened by the system administrator.
ACCOUNTS = {
    "leader": "leader",
    "department_head": "construction-head",
    "business_admin": "operator",
    "handler": "handler.lujiazui",
    "tech_admin": "tech",
    "security_admin": "security",
    "audit_admin": "auditor",
    "system_admin": "admin",
    "tech_lead": "techlead.one",
    "gateway": "gateway.one",
}
# What the brief of issue 7 names, pinned here whatever the role table says.
MUST_REFUSE = [
    ("handler", "PUT", "/api/v1/rules/{rule_id}"),
    ("handler", "POST", "/api/v1/accounts"),
    ("handler", "GET", "/api/v1/audit"),
    ("system_admin", "GET", "/api/v1/alarms"),
    ("system_admin", "GET", "/api/v1/audit"),
    ("system_admin", "GET", "/api/v1/workorders"),
    ("audit_admin", "GET", "/api/v1/alarms"),
    ("audit_admin", "GET", "/api/v1/accounts"),
    ("gateway", "GET", "/api/v1/workorders"),
    ("gateway", "GET", "/api/v1/alarms"),
    ("security_admin", "POST", "/api/v1/accounts"),
    ("business_admin", "GET", "/api/v1/accounts"),
    ("business_admin", "GET", "/api/v1/audit"),
    ("leader", "POST", "/api/v1/workorders/{work_order_id}/accept"),
    ("tech_admin", "POST", "/api/v1/readings"),
]
# Valid values of required query parameters.
QUERY = {
    "month": "2026-11",
    "sector_id": "construction",
    "level": "red",
    "metric": "ch4_lel",
    "from": "2026-11-01T00:00:00Z",
    "to": "2026-11-02T00:00:00Z",
}
NO_SUCH_ID = "no-such-id"


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    permission: Permission
    has_body: bool
    query: dict[str, str]

    def url(self) -> str:
        url = self.path
        while "{" in url:
            start, end = url.index("{"), url.index("}")
            url = url[:start] + NO_SUCH_ID + url[end + 1 :]
        return url

    def resource(self) -> str:
        """How the trail names the request: the method and the path under /api/v1/."""
        return f"{self.method} {self.url().removeprefix('/api/v1/')}"


def _permissions(dependant: Dependant) -> Iterator[Permission]:
    found = getattr(dependant.call, "permission", None)
    if isinstance(found, Permission):
        yield found
    for sub in dependant.dependencies:
        yield from _permissions(sub)


def operations(platform: Platform) -> list[Operation]:
    """Every operation of the platform that requires a permission (those that do not are the
    open auth routes and the infrastructure: test_route_permissions.py keeps that list)."""
    found = []
    for context in iter_route_contexts(platform.app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        required = set(_permissions(route.dependant))
        if not required:
            continue
        (permission,) = required
        query = {
            p.alias: QUERY[p.alias]
            for p in route.dependant.query_params
            if p.field_info.is_required()
        }
        for method in sorted(route.methods):
            has_body = route.dependant.body_params != []
            found.append(Operation(method, str(context.path), permission, has_body, query))
    return found


async def call(client: httpx.AsyncClient, operation: Operation, headers: dict[str, str]) -> Any:
    # An empty body: where the call is allowed it fails validation, or the id is not found,
    # and nothing changes. The permission is checked before either.
    if operation.path == "/api/v1/notifications/stream":
        # The live stream answers until its client goes: an event id it refuses (a 422,
        # checked after the permission) makes it answer at once.
        headers = {**headers, "Last-Event-ID": "not-an-event-id"}
    return await client.request(
        operation.method,
        operation.url(),
        headers=headers,
        params=operation.query,
        json={} if operation.has_body else None,
    )


@pytest.fixture(scope="module")
async def tokens(client: httpx.AsyncClient) -> dict[str, dict[str, str]]:
    admin = await login(client, "admin", ADMIN_PASSWORD)
    found = {"system_admin": admin}
    for role, username in ACCOUNTS.items():
        if role == "system_admin":
            continue
        if username in ("techlead.one", "gateway.one"):
            found[role] = await open_account(
                client, admin, username, roles=(role,), scope="district"
            )
        else:
            found[role] = await login(client, username, DEMO_PASSWORD)
    return found


async def test_the_refusals_the_issue_names(
    platform: Platform, client: httpx.AsyncClient, tokens: dict[str, dict[str, str]]
) -> None:
    by_route = {(o.method, o.path): o for o in operations(platform)}
    for role, method, path in MUST_REFUSE:
        response = await call(client, by_route[method, path], tokens[role])
        body = assert_problem(response, 403)
        assert body["type"].endswith("/forbidden"), (role, method, path)


async def test_every_operation_for_every_role_is_allowed_exactly_as_the_role_table_says(
    platform: Platform, client: httpx.AsyncClient, tokens: dict[str, dict[str, str]]
) -> None:
    """Allowed calls are not refused (they fail further on, harmlessly), refused ones are 403
    problems, and each refusal is in the audit trail, where the audit administrator sees it."""
    ops = operations(platform)
    assert len(ops) >= 30, [f"{o.method} {o.path}" for o in ops]
    refused: set[tuple[str, str]] = set()
    for role, headers in tokens.items():
        granted = permissions_of([role])
        for operation in ops:
            response = await call(client, operation, headers)
            where = f"{role}: {operation.method} {operation.path}"
            assert response.status_code < 500, f"{where}: {response.text}"
            if operation.permission in granted:
                assert response.status_code not in (401, 403), f"{where}: {response.text}"
            else:
                assert response.status_code == 403, f"{where}: {response.text}"
                refused.add((ACCOUNTS[role], operation.resource()))
    # Every role is refused something, and every permission is refused to someone.
    assert {actor for actor, _ in refused} == set(ACCOUNTS.values())

    auditor = tokens["audit_admin"]

    async def recorded() -> set[tuple[str, str]] | None:
        found: set[tuple[str, str]] = set()
        params: dict[str, Any] = {"action": "access.denied", "limit": 500}
        while True:
            page = await client.get("/api/v1/audit", headers=auditor, params=params)
            assert page.status_code == 200, page.text
            body = page.json()
            for record in body["items"]:
                assert (record["outcome"], record["status"]) == ("denied", 403)
                found.add((record["actor"], record["resource"]))
            if not body["next_cursor"]:
                break
            params["cursor"] = body["next_cursor"]
        return found if refused <= found else None

    try:
        await eventually(recorded)
    except AssertionError:
        missing = refused - (await recorded() or set())
        raise AssertionError(f"refusals missing from the trail: {sorted(missing)[:20]}") from None


async def test_a_token_claiming_more_roles_than_its_account_gets_the_accounts(
    platform: Platform, client: httpx.AsyncClient
) -> None:
    """Correctly signed (with the key this test process is trusted with), for a real account,
    claiming every administrator's roles: what counts is the account's role, a handler's."""
    claims_all = bearer(
        platform.settings.auth,
        "handler.lujiazui",
        roles=("handler", "system_admin", "audit_admin", "business_admin"),
        scope="district",
    )
    rule = {"name": "Gas", "scenario_id": "gas", "metric": "ch4_lel", "red": 50.0}
    for method, path, body in (
        ("GET", "/api/v1/audit", None),
        ("GET", "/api/v1/accounts", None),
        ("PUT", "/api/v1/rules/gas-claimed", rule),
    ):
        response = await client.request(method, path, headers=claims_all, json=body)
        assert_problem(response, 403)
    # What it may do as a handler, it does.
    assert (await client.get("/api/v1/workorders", headers=claims_all)).status_code == 200
