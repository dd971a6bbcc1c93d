"""The ingest API answers as its OpenAPI document says: requests generated from the document
(schemathesis: examples, boundary and invalid values, then random ones) never get a 500, and
every answer has a documented status, content type and body."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis import Case

from riskwatch.common.bus import MemoryBus
from riskwatch.common.cli import IDENTITY_MIGRATIONS
from riskwatch.common.testing import CONFORMANCE_CHECKS, bearer, grant, migrate
from riskwatch.ingest.app import create_app
from riskwatch.ingest.module import MIGRATIONS
from riskwatch.ingest.settings import IngestSettings


def ingest_settings(database_url: str = IngestSettings().database.url) -> IngestSettings:
    return IngestSettings(
        bus="memory",
        database={"url": database_url},
        auth={"builtin_issuer": True},
        admin_password="correct horse",
    )


# The document is the one the app under test serves: same settings but for the database, which
# the document does not depend on (the app under test needs the test's database, made later).
schema = schemathesis.openapi.from_dict(create_app(ingest_settings()).openapi())


@pytest.fixture(scope="module")
async def conformance_db(make_database: Callable[[str], str]) -> str:
    url = make_database("ingest_conformance")
    await migrate(url, [MIGRATIONS, IDENTITY_MIGRATIONS])
    await grant(url, schema="ingest")  # the account of `bearer`'s tokens
    return url


@pytest.fixture
def app(conformance_db: str) -> FastAPI:
    # schemathesis runs it (and its lifespan) on an event loop of its own, and ends the
    # lifespan after each test.
    return create_app(ingest_settings(conformance_db), bus=MemoryBus())


@schema.parametrize()
@settings(max_examples=15, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_answers_as_documented(case: Case, app: FastAPI) -> None:
    headers = bearer(ingest_settings().auth)
    case.call_and_validate(app=app, headers=headers, checks=CONFORMANCE_CHECKS)
