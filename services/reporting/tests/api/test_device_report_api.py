"""Devices in the monthly report through the API: ingest's status changes (every sector's
device-status topic) and hourly quality counts (rw.reading-quality) on the in-process bus, out
of order and redelivered, into the projections and the report's JSON, on a set clock (a past
month, so the numbers are fixed)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from riskwatch.common.bus import MemoryBus, Position, record_for
from riskwatch.common.events import new_event
from riskwatch.common.events.topics import READING_QUALITY, device_status_topic, dlq_topic
from riskwatch.common.testing import eventually, migrate
from riskwatch.reporting.module import GROUP, MIGRATIONS

from .. import factories as f

NOV_START = datetime(2024, 10, 31, 16, tzinfo=UTC)  # 1 November 2024 in Shanghai; 30 days
NOW = datetime(2024, 12, 10, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture(scope="module")
async def api_db(make_database: Callable[[str], str]) -> str:
    url = make_database("reporting_api_devices")
    await migrate(url, [MIGRATIONS])
    return url


@pytest.fixture
def report_clock() -> datetime:
    return NOW


async def test_the_monthly_report_shows_the_online_rate_and_the_quality_counts(
    client: httpx.AsyncClient, bus: MemoryBus
) -> None:
    changes = [
        *f.status_changes("api-gas-1", ("online", NOV_START - 3 * DAY)),
        *f.status_changes(
            "api-gas-2",
            ("online", NOV_START - 3 * DAY),
            ("offline", NOV_START + 9 * DAY),
            ("online", NOV_START + 12 * DAY),
        ),
    ]
    quality = f.quality_counted(
        "construction",
        NOV_START + DAY,
        readings=400,
        devices={"api-gas-2": {"out_of_range": 4, "spike": 2}},
    )
    records = [
        record_for(
            device_status_topic("construction"),
            new_event(c, source="/t", subject=c.device.device_id),
        )
        for c in changes
    ]
    records.append(record_for(READING_QUALITY, new_event(quality, source="/t", subject="q")))
    positions: list[Position] = []
    for record in [*records[::-1], records[0], records[-1]]:  # newest first, two redelivered
        positions += await bus.publish([record])

    async def consumed() -> bool:
        return all(bus.is_consumed(p) for p in positions)

    await eventually(consumed)
    assert bus.records(dlq_topic(GROUP)) == []

    body = (await client.get("/api/v1/reports/monthly", params={"month": "2024-11"})).json()
    online = body["devices"]["online"]
    assert online["by_sector"]["construction"]["devices"] == 2
    assert online["by_sector"]["construction"]["rate"] == pytest.approx(0.95)
    assert online["overall"]["rate"] == pytest.approx(0.95)
    assert online["by_sector"]["market"] == {
        "devices": 0,
        "online_s": 0.0,
        "offline_s": 0.0,
        "observed_s": 0.0,
        "rate": None,
    }
    assert online["by_scenario"].keys() == {"gas"}
    assert [d["device_id"] for d in online["least_online"]] == ["api-gas-2"]
    assert online["least_online"][0]["rate"] == pytest.approx(0.9)
    counts = body["devices"]["quality"]
    construction = counts["by_sector"]["construction"]
    assert (construction["hours"], construction["readings"], construction["flagged"]) == (
        1,
        400,
        6,
    )
    assert construction["flagged_share"] == pytest.approx(0.015)
    assert construction["by_flag"]["out_of_range"] == 4
    assert construction["by_flag"]["spike"] == 2
    [device] = counts["most_flagged"]
    assert (device["device_id"], device["flagged"], device["name"]) == ("api-gas-2", 6, "API-GAS-2")

    sector = (
        await client.get(
            "/api/v1/reports/monthly", params={"month": "2024-11", "sector_id": "market"}
        )
    ).json()
    assert sector["devices"]["online"]["overall"]["devices"] == 0
    assert sector["devices"]["quality"]["overall"]["readings"] == 0
