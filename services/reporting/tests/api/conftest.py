"""Fixtures of the reporting API tests: the in-process bus, and an authenticated client of the
app on it. Each module gives its own `api_db` (the app commits for real) and may set the
reports' clock with `report_clock` (a past month's numbers are then fixed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import httpx
import pytest

from riskwatch.common.bus import MemoryBus
from riskwatch.common.settings import DatabaseSettings
from riskwatch.common.testing import account_bearer, app_client
from riskwatch.reporting import deps
from riskwatch.reporting.app import create_app
from riskwatch.reporting.settings import ReportingSettings


@pytest.fixture
async def bus() -> MemoryBus:
    return MemoryBus()


@pytest.fixture
def report_clock() -> datetime | None:
    """None: the reports' clock is the real one."""
    return None


@pytest.fixture
async def client(
    api_db: str, bus: MemoryBus, report_clock: datetime | None
) -> AsyncIterator[httpx.AsyncClient]:
    settings = ReportingSettings(bus="memory", database=DatabaseSettings(url=api_db))
    app = create_app(settings, bus=bus)
    if report_clock is not None:
        app.dependency_overrides[deps.now] = lambda: report_clock
    async with app_client(app) as c:
        c.headers.update(await account_bearer(app, settings.auth))
        yield c
