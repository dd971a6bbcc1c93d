"""OWASP API9:2023, Improper Inventory Management: endpoints nobody lists (an old version, a
debug route, a route left out of the documentation), hosts and deployments that serve different
APIs, documentation that does not say what an operation answers.

RiskWatch answers with one version, /api/v1, and one document: every service's OpenAPI lists
every route it serves under /api/v1 (the rest is infrastructure: probes, metrics, the
documentation, the issuer's public keys), each operation with a tag, an id and its errors; the
embedded platform serves exactly the union of the five services (identity with ingest, the
audit trail with reporting), so the distributed and the embedded deployments expose the same
API. The apps are built, not started: nothing here needs a database.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Mount, Route

from riskwatch.alerting.app import create_app as alerting_app
from riskwatch.alerting.settings import AlertingSettings
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

UNUSED = "postgresql+asyncpg://unused@127.0.0.1:1/unused"
API = "/api/v1/"
# Not the API: probes, metrics, the index, the documentation and its files, the public keys.
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
DOCS_FILES = "/docs/static"
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def services() -> dict[str, FastAPI]:
    return {
        # Ingest hosts the token issuer (identity) in the distributed mode, reporting the trail.
        "ingest": ingest_app(IngestSettings(auth={"builtin_issuer": True})),  # type: ignore[arg-type]
        "alerting": alerting_app(AlertingSettings()),
        "workorder": workorder_app(WorkOrderSettings()),
        "notify": notify_app(NotifySettings()),
        "reporting": reporting_app(ReportingSettings()),
    }


def platform() -> FastAPI:
    settings = EmbeddedSettings(data_dir=Path("/nonexistent/rw-inventory"), feed=False)
    return create_platform(settings, UNUSED)


def every_app() -> dict[str, FastAPI]:
    return {**services(), "embedded": platform()}


def served(app: FastAPI) -> Iterator[tuple[str, str, bool]]:
    """(method, path, in the document) of every route `app` serves; a mounted app as its
    prefix with method '*'."""
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        path = str(context.path)
        if isinstance(route, APIRoute | Route):
            for method in sorted(route.methods or ()):
                yield method, path, bool(getattr(route, "include_in_schema", True))
        elif isinstance(route, Mount):
            yield "*", path, False


def documented(app: FastAPI) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, item in app.openapi()["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


@pytest.mark.parametrize("name", list(every_app()))
def test_the_api_is_one_version_and_the_rest_is_infrastructure(name: str) -> None:
    app = every_app()[name]
    outside = sorted(
        {
            path
            for _, path, _ in served(app)
            if not path.startswith(API)
            and path not in INFRASTRUCTURE
            and not path.startswith(DOCS_FILES)
        }
    )
    assert outside == []


@pytest.mark.parametrize("name", list(every_app()))
def test_every_api_route_is_documented_and_every_documented_one_is_served(name: str) -> None:
    app = every_app()[name]
    routes = {(m, p) for m, p, _ in served(app) if p.startswith(API) and m != "HEAD"}
    hidden = sorted((m, p) for m, p, shown in served(app) if p.startswith(API) and not shown)
    assert hidden == []
    document = set(documented(app))
    assert {(m, p) for m, p in document if p.startswith(API)} == routes
    # Outside /api/v1 the document lists only the issuer's public keys.
    assert {p for _, p in document if not p.startswith(API)} <= {"/.well-known/jwks.json"}


def test_the_platform_serves_exactly_the_services_apis() -> None:
    """The distributed mode and the embedded platform expose one and the same API: no route
    the services lack (a platform-only debug route), none missing."""
    union: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
    for name, app in services().items():
        for key, operation in documented(app).items():
            assert key not in union, f"{key} is served by {union[key][0]} and {name}"
            union[key] = (name, operation)
    embedded = documented(platform())
    assert set(embedded) == set(union)
    for key, (name, operation) in union.items():
        # The same parameters and answers, as the service documents them.
        mine = embedded[key]
        assert sorted(p["name"] for p in mine.get("parameters", [])) == sorted(
            p["name"] for p in operation.get("parameters", [])
        ), (name, key)
        assert set(mine["responses"]) == set(operation["responses"]), (name, key)


def test_every_operation_is_tagged_named_and_documents_its_errors() -> None:
    operations = documented(platform())
    ids = [op.get("operationId") for op in operations.values()]
    assert None not in ids
    assert len(ids) == len(set(ids))
    for (method, path), operation in operations.items():
        where = f"{method} {path}"
        assert len(operation.get("tags", [])) == 1, where
        assert operation.get("summary"), where
        responses = operation["responses"]
        assert any(s.startswith("2") for s in responses), where
        assert {"429", "500"} <= set(responses), where
        if operation.get("security"):
            assert {"401", "403"} <= set(responses), where
        if operation.get("parameters") or "requestBody" in operation:
            assert "422" in responses, where
        if "requestBody" in operation:
            assert "413" in responses, where
    tags = {op["tags"][0] for op in operations.values()}
    assert {"auth", "accounts", "audit", "readings", "alarms", "workorders", "reports"} <= tags
