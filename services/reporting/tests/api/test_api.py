"""The reporting HTTP API in-process (httpx ASGITransport), on the in-process bus, real
PostgreSQL: events published by "other services" reach the projections through the consumer
and show up in the monthly report (duty, reach and acknowledgement included); auth and
problem+json."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from riskwatch.common.bus import MemoryBus, record_for
from riskwatch.common.catalog import default_catalog
from riskwatch.common.events import EventPayload, Level, new_event
from riskwatch.common.events.topics import ALARMS, DUTY, NOTIFICATIONS, WORKORDERS
from riskwatch.common.testing import eventually, migrate
from riskwatch.reporting.module import MIGRATIONS
from riskwatch.reporting.reports.domain import Month

from .. import factories as f

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONTHLY = "/api/v1/reports/monthly"
MIN = timedelta(minutes=1)


@pytest.fixture(scope="module")
async def api_db(make_database: Callable[[str], str]) -> str:
    """Its own database: the app commits for real, so its rows must not meet other tests'."""
    url = make_database("reporting_api")
    await migrate(url, [MIGRATIONS])
    return url


async def publish(bus: MemoryBus, topic: str, payload: EventPayload, subject: str) -> None:
    await bus.publish([record_for(topic, new_event(payload, source="/test", subject=subject))])


async def test_every_api_route_needs_a_token(client: httpx.AsyncClient) -> None:
    for path in (f"{MONTHLY}?month=2026-10", "/api/v1/reports/alarms/a-1"):
        response = await client.get(path, headers={"Authorization": ""})
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/unauthorized")


async def test_a_malformed_month_is_a_problem(client: httpx.AsyncClient) -> None:
    response = await client.get(MONTHLY, params={"month": "2026-13"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["detail"] == "Month '2026-13' does not exist: months run from 01 to 12."
    assert problem["field"] == "month"
    missing = await client.get(MONTHLY)
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["loc"] == ["query", "month"]


async def test_a_month_not_begun_is_a_problem(client: httpx.AsyncClient) -> None:
    later = Month.of(datetime.now(UTC), SHANGHAI).next().next()
    response = await client.get(MONTHLY, params={"month": str(later)})
    assert response.status_code == 422
    assert f"Month {later} has not begun in Asia/Shanghai" in response.json()["detail"]


async def test_an_unknown_alarm_is_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/reports/alarms/nope")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_events_on_the_bus_make_this_months_report(
    client: httpx.AsyncClient, bus: MemoryBus
) -> None:
    now = datetime.now(UTC)
    month = Month.of(now, SHANGHAI)
    before = month.start(SHANGHAI) - timedelta(hours=1)  # last month, in Shanghai
    await publish(bus, ALARMS, f.raised("api-gas", level=Level.YELLOW, raised_at=now), "api-gas")
    await publish(
        bus,
        ALARMS,
        f.raised("api-flood", level=Level.RED, scenario_id="flood-typhoon", raised_at=now),
        "api-flood",
    )
    await publish(bus, ALARMS, f.raised("api-old", raised_at=before), "api-old")
    await publish(bus, WORKORDERS, f.wo_created("api-wo", "api-gas", created_at=now), "api-gas")
    await publish(bus, NOTIFICATIONS, f.delivered("api-n", "api-flood", at=now), "api-flood")
    await publish(
        bus,
        NOTIFICATIONS,
        f.acknowledged("api-n", "api-flood", at=now, channel="sms", via="sms"),
        "api-flood",
    )

    async def report() -> dict[str, Any] | None:
        for alarm_id in ("api-gas", "api-flood", "api-old"):
            if (await client.get(f"/api/v1/reports/alarms/{alarm_id}")).status_code != 200:
                return None
        body: dict[str, Any] = (await client.get(MONTHLY, params={"month": str(month)})).json()
        done = (
            body["work_orders"]["created"]
            and body["notifications"]["total"]
            and body["response"]["overall"]["acknowledged"]
        )
        return body if done else None

    body = await eventually(report)
    assert isinstance(body, dict)
    start, end = month.window(SHANGHAI)
    assert (body["month"], body["timezone"], body["sector_id"]) == (
        str(month),
        "Asia/Shanghai",
        None,
    )
    assert datetime.fromisoformat(body["window_start"]) == start
    assert datetime.fromisoformat(body["window_end"]) == end
    assert datetime.fromisoformat(body["generated_at"]) >= now

    alarms = body["alarms"]
    assert alarms["total"] == 2
    assert alarms["by_level"] == {"blue": 0, "yellow": 1, "orange": 0, "red": 1}
    expected_sectors = dict.fromkeys(default_catalog().sector_ids(), 0)
    expected_sectors.update({"construction": 1, "emergency": 1})
    assert alarms["by_sector"] == expected_sectors
    assert alarms["by_status"] == {"active": 2, "cleared": 0}
    work_orders = body["work_orders"]
    assert (work_orders["created"], work_orders["open"], work_orders["closed"]) == (1, 1, 0)
    assert (work_orders["overdue_open"], work_orders["on_time_rate"]) == (0, None)
    notifications = body["notifications"]
    assert (notifications["total"], notifications["delivered"]) == (1, 1)
    assert notifications["by_channel"] == {
        "in_app": 0,
        "sms": 1,
        "voice": 0,
        "webhook": 0,
        "email": 0,
    }

    # Of two alarms, the red one was delivered and acknowledged by SMS reply at once.
    answered = {
        "alarms": 1,
        "reached": 1,
        "reach_rate": 1.0,
        "acknowledged": 1,
        "acknowledgement_rate": 1.0,
        "time_to_acknowledge_p50_s": 0.0,
        "time_to_acknowledge_p90_s": 0.0,
        "acknowledged_via": {"api": 0, "sms": 1, "voice": 0},
    }
    response = body["response"]
    assert response["overall"] == {
        **answered,
        "alarms": 2,
        "reach_rate": 0.5,
        "acknowledgement_rate": 0.5,
    }
    assert list(response["by_level"]) == ["red", "orange", "yellow", "blue"]
    assert response["by_level"]["red"] == answered
    assert response["by_level"]["yellow"]["alarms"] == 1
    assert response["by_level"]["yellow"]["reach_rate"] == 0.0
    assert response["by_level"]["blue"]["reach_rate"] is None
    assert response["by_duty_center"] == {"district-center": answered}

    construction = (
        await client.get(MONTHLY, params={"month": str(month), "sector_id": "construction"})
    ).json()
    assert construction["sector_id"] == "construction"
    assert construction["alarms"]["by_sector"] == {"construction": 1}
    assert construction["work_orders"]["created"] == 1
    assert construction["notifications"]["total"] == 0  # its notification was the flood alarm's
    assert construction["response"]["overall"]["reached"] == 0
    assert construction["response"]["by_duty_center"] == {}

    last_month = Month(month.year - (month.month == 1), (month.month - 2) % 12 + 1)
    previous = (await client.get(MONTHLY, params={"month": str(last_month)})).json()
    assert previous["alarms"]["total"] == 1

    flood = (await client.get("/api/v1/reports/alarms/api-flood")).json()
    assert [(n["status"], n["acknowledged_via"]) for n in flood["notifications"]] == [
        ("acknowledged", "sms")
    ]

    trail = (await client.get("/api/v1/reports/alarms/api-gas")).json()
    assert (trail["alarm"]["level"], trail["alarm"]["sector_id"]) == ("yellow", "construction")
    assert [w["work_order_id"] for w in trail["work_orders"]] == ["api-wo"]
    assert trail["notifications"] == []


async def test_duty_events_on_the_bus_make_the_duty_section(
    client: httpx.AsyncClient, bus: MemoryBus
) -> None:
    now = datetime.now(UTC)
    month = Month.of(now, SHANGHAI)
    start = month.start(SHANGHAI)
    market, street = "sector-market", "street-api"
    await publish(bus, ALARMS, f.raised("api-quiet", raised_at=now), "api-quiet")
    await publish(bus, ALARMS, f.raised("api-told", raised_at=now), "api-told")
    await publish(bus, NOTIFICATIONS, f.failed("api-n-told", "api-told", at=now), "api-told")
    # Published a day ahead; version 2 takes the market's second shift out again.
    early = start - timedelta(days=1)
    await publish(
        bus,
        DUTY,
        f.roster(
            "api-r-market",
            ("api-m-1", "p-1"),
            ("api-m-2", "p-2"),
            start=start,
            published_at=early,
            duty_center_id=market,
            shift_hours=1,
        ),
        market,
    )
    await publish(
        bus,
        DUTY,
        f.checked_in("api-m-1", "p-1", at=start, late=True, via="sms", duty_center_id=market),
        market,
    )
    await publish(
        bus,
        DUTY,
        f.roster(
            "api-r-market",
            ("api-m-1", "p-1"),
            version=2,
            start=start,
            published_at=early + timedelta(hours=1),
            duty_center_id=market,
            shift_hours=1,
        ),
        market,
    )
    await publish(
        bus,
        DUTY,
        f.roster(
            "api-r-street", ("api-s-1", "p-3"), start=start, published_at=now, duty_center_id=street
        ),
        street,
    )

    async def report() -> dict[str, Any] | None:
        told = (await client.get("/api/v1/reports/alarms/api-told")).json()
        if not (told.get("alarm") and told["notifications"]):
            return None
        body: dict[str, Any] = (await client.get(MONTHLY, params={"month": str(month)})).json()
        duty = {d["duty_center_id"]: d for d in body["duty"]}
        market_done = market in duty and duty[market]["shifts"] == duty[market]["checked_in"] == 1
        done = market_done and street in duty and "api-quiet" in body["alarms"]["unreached_ids"]
        return body if done else None

    body = await eventually(report)
    assert isinstance(body, dict)
    as_of = datetime.fromisoformat(body["as_of"])
    duty = {d["duty_center_id"]: d for d in body["duty"]}
    covered = min(as_of, start + timedelta(hours=1)) - start
    assert duty[market] == {
        "duty_center_id": market,
        "shifts": 1,
        "checked_in": 1,
        "check_in_rate": 1.0,
        "late_check_ins": 1,
        "minutes_without_anyone_on_duty": pytest.approx((as_of - start - covered) / MIN),
        "rosters": 1,
        "rosters_published_on_time": 1,
    }
    assert duty[street]["rosters_published_on_time"] == 0  # published at now, after it began
    # Notified, if in vain: an alarm reached nobody only when notify made no notification at all.
    assert "api-told" not in body["alarms"]["unreached_ids"]

    sector = (await client.get(MONTHLY, params={"month": str(month), "sector_id": "market"})).json()
    assert [d["duty_center_id"] for d in sector["duty"]] == [market]
    assert sector["alarms"]["unreached"] == 0  # api-quiet is a construction alarm
