"""The embedded platform answers as its OpenAPI document says: schemathesis generates requests
for every operation of every service (ingest, alerting, workorder, notify, reporting, identity
and the audit trail, as the platform serves them together) from the document (examples,
boundary and invalid values, then random ones), with tokens of real accounts that hold every
permission between them (no one account can: an administrator's role is held alone); no
answer is a 500, and every answer has a documented status, content type,
headers and body.

Each service's own conformance test covers its app alone; this one covers the union, with
real accounts behind the identity routes, on one real PostgreSQL database.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis import Case

from riskwatch.common.access import ROLES
from riskwatch.common.testing import CONFORMANCE_CHECKS, admitted, app_client, migrate
from riskwatch.embedded.platform import create_platform, migration_dirs
from riskwatch.embedded.settings import EmbeddedSettings

pytestmark = [pytest.mark.postgres]

ADMIN_PASSWORD = "Tidal-Gate-4471"
ACCOUNT = "conformance"
FIRST_PASSWORD = "Lantern-Quay-5190"
PASSWORD = "Harbour-Lamp-6203"


def platform_settings(data_dir: Path) -> EmbeddedSettings:
    return EmbeddedSettings(
        data_dir=data_dir,
        feed=False,
        admin_password=ADMIN_PASSWORD,  # type: ignore[arg-type]
        # The limits per address and per account are tested in owasp/test_api4 and test_api6;
        # here the generated requests (hundreds a minute from one client and one account)
        # would meet them, and every later answer would be a 429, which tests no operation.
        http={  # type: ignore[arg-type]
            "rate_per_address": "off",
            "rate_per_account": "off",
            "rate_per_gateway": "off",
        },
    )


# The document is the one the app under test serves: same settings but for the database and the
# data directory, which the document does not depend on.
schema = schemathesis.openapi.from_dict(
    create_platform(
        platform_settings(Path("/nonexistent/rw-conformance")),
        "postgresql+asyncpg://unused@127.0.0.1:1/unused",
    ).openapi()
)


@pytest.fixture(scope="module")
def data_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="rw-conformance-"))


@pytest.fixture(scope="module")
async def conformance_db(make_database: Callable[[str], str]) -> str:
    url = make_database("platform_conformance")
    await migrate(url, migration_dirs())
    return url


@pytest.fixture(scope="module")
async def headers(conformance_db: str, data_dir: Path) -> dict[str, dict[str, str]]:
    """Tokens of real accounts, by what they answer for: `business` holds every role but the
    administrators', opened by the system administrator through the API; `admin` is the system
    administrator (accounts, roles); `auditor` an audit administrator (the trail). The platform
    knows them everywhere before the tests start."""
    async with app_client(create_platform(platform_settings(data_dir), conformance_db)) as client:
        admin = await _login(client, "admin", ADMIN_PASSWORD)
        found = {"admin": admin}
        for name, roles in (
            ("business", [r for r, info in ROLES.items() if not info.administrator]),
            ("auditor", ["audit_admin"]),
        ):
            username = f"{ACCOUNT}-{name}"
            created = await client.post(
                "/api/v1/accounts",
                headers=admin,
                json={
                    "username": username,
                    "display_name": f"Conformance {name}",
                    "password": FIRST_PASSWORD,
                    "roles": roles,
                    "scope": "district",
                },
            )
            assert created.status_code == 201, created.text
            changed = await client.post(
                "/api/v1/auth/password",
                json={
                    "username": username,
                    "current_password": FIRST_PASSWORD,
                    "new_password": PASSWORD,
                },
            )
            assert changed.status_code == 204, changed.text
            found[name] = await _login(client, username, PASSWORD)
        # Every service's projection has the accounts (the platform reads ingest's).
        await admitted(client, found["business"], path="/api/v1/workorders")
        await admitted(client, found["auditor"], path="/api/v1/audit")
        return found


def _answering(path: str, headers: dict[str, dict[str, str]]) -> dict[str, str]:
    if path.startswith("/api/v1/audit"):
        return headers["auditor"]
    if path.startswith(("/api/v1/accounts", "/api/v1/roles")):
        return headers["admin"]
    return headers["business"]


async def _login(client: httpx.AsyncClient, username: str, password: str) -> dict[str, str]:
    response = await client.post(
        "/api/v1/auth/token", data={"username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def app(conformance_db: str, data_dir: Path, headers: dict[str, dict[str, str]]) -> FastAPI:
    # schemathesis runs it (and its lifespan) on an event loop of its own, and ends the
    # lifespan after each test (one operation).
    return create_platform(platform_settings(data_dir), conformance_db)


@schema.parametrize()
@settings(max_examples=10, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_platform_answers_as_documented(
    case: Case, app: FastAPI, headers: dict[str, dict[str, str]]
) -> None:
    token = _answering(case.path, headers)
    case.call_and_validate(app=app, headers=token, checks=CONFORMANCE_CHECKS)
