"""Every route declares the permission it needs (issue 7): a route added without one fails here.

The apps are built, not started: the check reads FastAPI's dependency tree of each route, where
`auth.require(...)` leaves the permission it checks.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from riskwatch.alerting.app import create_app as alerting_app
from riskwatch.alerting.settings import AlertingSettings
from riskwatch.common.access import ROLES, Permission, permissions_of, separation_problem
from riskwatch.embedded.platform import create_platform
from riskwatch.embedded.settings import EmbeddedSettings
from riskwatch.ingest.app import create_app as ingest_app
from riskwatch.ingest.settings import IngestSettings
from riskwatch.notify.app import create_app as notify_app
from riskwatch.notify.settings import NotifySettings
from riskwatch.reporting.app import create_app as reporting_app
from riskwatch.reporting.settings import ReportingSettings
from riskwatch.workorder.app import create_app as workorder_app
from riskwatch.workorder.settings import WorkOrderSettings

# Routes that need no permission, each for its reason: getting a token, changing a password
# one cannot log in with, and the caller's own account.
OPEN = {
    ("POST", "/api/v1/auth/token"),
    ("POST", "/api/v1/auth/password"),
    ("GET", "/api/v1/auth/me"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/logout"),
    # A second factor is enrolled by its account's own token (or a login's enrolment token).
    ("POST", "/api/v1/auth/totp"),
    ("POST", "/api/v1/auth/totp/confirm"),
}
# Not API: probes, metrics, the index, the documentation, the issuer's public keys.
INFRASTRUCTURE = {
    "/healthz",
    "/livez",
    "/readyz",
    "/metrics",
    "/",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/openapi.json",
    "/.well-known/jwks.json",
}


def apps() -> dict[str, FastAPI]:
    return {
        "ingest": ingest_app(IngestSettings(auth={"builtin_issuer": True})),  # type: ignore[arg-type]
        "alerting": alerting_app(AlertingSettings()),
        "workorder": workorder_app(WorkOrderSettings()),
        "notify": notify_app(NotifySettings()),
        "reporting": reporting_app(ReportingSettings()),
        "embedded": create_platform(EmbeddedSettings(), "postgresql+asyncpg://unused/none"),
    }


def permissions(dependant: Dependant) -> Iterator[Permission]:
    found = getattr(dependant.call, "permission", None)
    if isinstance(found, Permission):
        yield found
    for sub in dependant.dependencies:
        yield from permissions(sub)


def api_routes(app: FastAPI) -> Iterator[tuple[str, str, APIRoute]]:
    """Every API route of `app` with the path it is served at (routers are included lazily)."""
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        path = context.path
        if isinstance(route, APIRoute) and path not in INFRASTRUCTURE:
            for method in sorted(route.methods):
                yield method, str(path), route


@pytest.mark.parametrize("name", list(apps()))
def test_every_route_declares_exactly_one_permission(name: str) -> None:
    missing, several = [], []
    checked = 0
    for method, path, route in api_routes(apps()[name]):
        checked += 1
        found = set(permissions(route.dependant))
        if (method, path) in OPEN:
            assert not found, f"{method} {path} is open by design yet requires {found}"
        elif not found:
            missing.append(f"{method} {path}")
        elif len(found) > 1:
            several.append(f"{method} {path}: {sorted(found)}")
    assert not missing, f"routes without a permission: {missing}"
    assert checked, "the check saw no route"
    assert not several, f"routes with several permissions: {several}"


def test_the_embedded_platform_serves_every_service_route() -> None:
    """The platform is the five services in one process: the check above covers it all."""
    built = apps()
    embedded = {(m, p) for m, p, _ in api_routes(built.pop("embedded"))}
    services = {(m, p) for app in built.values() for m, p, _ in api_routes(app)}
    assert services <= embedded


def test_administrators_are_separated() -> None:
    """Level-3 graded protection: the system administrator cannot read the trail, the audit
    administrator does nothing else, and no business role touches accounts or the trail."""
    assert Permission.AUDIT_READ not in permissions_of(["system_admin"])
    assert permissions_of(["audit_admin"]) == {Permission.AUDIT_READ}
    assert separation_problem(["system_admin", "audit_admin"])
    assert separation_problem(["audit_admin", "business_admin"])
    assert separation_problem(["audit_admin"]) is None
    assert separation_problem(["business_admin", "gateway"]) is None
    for role, info in ROLES.items():
        if not info.administrator:
            assert not info.permissions & {
                Permission.AUDIT_READ,
                Permission.ACCOUNTS_WRITE,
            }, role


def test_every_permission_is_granted_by_some_role_and_used_by_some_route() -> None:
    granted = set().union(*(info.permissions for info in ROLES.values()))
    used = {
        p
        for app in apps().values()
        for _, _, route in api_routes(app)
        for p in permissions(route.dependant)
    }
    assert granted == set(Permission)
    unused = set(Permission) - used
    # Declared with their first caller only: every permission guards a route somewhere.
    assert not unused, f"permissions no route requires: {sorted(unused)}"
