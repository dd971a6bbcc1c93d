"""The alerting HTTP API in-process (httpx ASGITransport), on the in-process bus, real
PostgreSQL: rules, alarms, auth, problem+json — and the consumers running in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from riskwatch.alerting.app import create_app
from riskwatch.alerting.module import MIGRATIONS
from riskwatch.alerting.settings import AlertingSettings
from riskwatch.common.bus import MemoryBus, record_for
from riskwatch.common.events import new_event
from riskwatch.common.events.topics import readings_topic
from riskwatch.common.testing import account_bearer, app_client, eventually, migrate

from .. import factories as f


@pytest.fixture
async def bus() -> MemoryBus:
    return MemoryBus()


@pytest.fixture(scope="module")
async def api_db(make_database: Callable[[str], str]) -> str:
    """Its own database: the app commits for real, so its rows must not meet other tests'."""
    url = make_database("alerting_api")
    await migrate(url, [MIGRATIONS])
    return url


@pytest.fixture
async def client(api_db: str, bus: MemoryBus) -> AsyncIterator[httpx.AsyncClient]:
    settings = AlertingSettings(bus="memory", database={"url": api_db}, outbox_poll_interval_s=0.05)
    app = create_app(settings, bus=bus)
    async with app_client(app) as c:
        c.headers.update(await account_bearer(app, settings.auth))
        yield c


async def test_every_api_route_needs_a_token(client: httpx.AsyncClient) -> None:
    for path in ("/api/v1/rules", "/api/v1/alarms"):
        response = await client.get(path, headers={"Authorization": ""})
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/unauthorized")
    assert (await client.get("/healthz", headers={"Authorization": ""})).status_code == 200


async def test_incoherent_thresholds_are_a_problem(client: httpx.AsyncClient) -> None:
    body = f.gas_rule(blue=60.0).model_dump()
    response = await client.put("/api/v1/rules/bad-rule", json=body)
    assert response.status_code == 422
    problem = response.json()
    assert problem["title"] == "Invalid input"
    assert "blue threshold 60.0" in problem["problems"][0]


async def test_a_reading_on_the_bus_becomes_an_alarm_in_the_api(
    client: httpx.AsyncClient, bus: MemoryBus
) -> None:
    rule_id = "gas-lel-api"
    created = await client.put(f"/api/v1/rules/{rule_id}", json=f.gas_rule().model_dump())
    assert created.status_code == 201
    dev = f.device("gas-api-1")
    event = new_event(f.batch(22.0, dev=dev), source="/test", subject=dev.device_id)
    await bus.publish([record_for(readings_topic("construction"), event)])

    async def alarm() -> dict[str, object] | None:
        page = (await client.get("/api/v1/alarms", params={"device_id": dev.device_id})).json()
        return page["items"][0] if page["items"] else None

    found = await eventually(alarm)
    assert isinstance(found, dict)
    assert (found["level"], found["status"], found["rule_id"]) == ("yellow", "active", rule_id)
    by_id = await client.get(f"/api/v1/alarms/{found['alarm_id']}")
    assert by_id.json()["device_id"] == dev.device_id
    filtered = await client.get(
        "/api/v1/alarms", params={"level": "red", "device_id": dev.device_id}
    )
    assert filtered.json()["items"] == []
    # The outbox relay publishes AlarmRaised on the bus for the other services.
    raised = await eventually(lambda: _alarm_records(bus))
    assert raised


async def _alarm_records(bus: MemoryBus) -> list[object]:
    return bus.records("rw.alarms")


async def test_unknown_alarm_is_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/alarms/nope")
    assert response.status_code == 404
    assert response.json()["detail"] == "No alarm 'nope'."


async def test_a_nul_in_an_alarm_id_or_filter_is_a_problem_not_a_crash(
    client: httpx.AsyncClient,
) -> None:
    for response in (
        await client.get("/api/v1/alarms/%00"),
        await client.get("/api/v1/alarms", params={"device_id": "gas\u0000"}),
    ):
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/invalid")


async def test_a_nul_that_reaches_postgresql_is_still_a_problem_not_a_crash(
    client: httpx.AsyncClient,
) -> None:
    # The rule's name has no check of its own at the edge: PostgreSQL refuses the NUL, and the
    # data exception handler answers 422 instead of 500.
    body = {**f.gas_rule().model_dump(), "name": "Gas \u0000 leak"}
    response = await client.put("/api/v1/rules/gas-nul", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "INSERT" not in response.text
    assert (await client.get("/api/v1/rules/gas-nul")).status_code == 404


async def test_a_rule_that_ignores_flagged_values_raises_on_the_unflagged_one_alone(
    client: httpx.AsyncClient, bus: MemoryBus
) -> None:
    rule_id = "gas-lel-unflagged"
    body = f.gas_rule(ignore_flags=["stuck", "out_of_range"]).model_dump()
    created = await client.put(f"/api/v1/rules/{rule_id}", json=body)
    assert created.status_code == 201, created.text
    # Kept each once, in bit order.
    assert created.json()["ignore_flags"] == ["out_of_range", "stuck"]
    dev = f.device("gas-flags-1")
    # 60 %LEL (red) but stuck, 70 out of range: left aside; then 22 (yellow), unflagged.
    readings = f.batch(60.0, 70.0, 22.0, dev=dev, flags=[4, 1 | 2])
    await bus.publish(
        [record_for(readings_topic("construction"), new_event(readings, source="/test"))]
    )

    async def alarm() -> dict[str, object] | None:
        # This rule's: another test's rule on the same metric sees these readings too.
        params = {"device_id": dev.device_id, "rule_id": rule_id}
        page = (await client.get("/api/v1/alarms", params=params)).json()
        return page["items"][0] if page["items"] else None

    found = await eventually(alarm)
    assert isinstance(found, dict)
    # Raised by the unflagged reading alone: not red, not counting the flagged ones.
    assert (found["level"], found["value"], found["breach_count"]) == ("yellow", 22.0, 1)
    assert found["rule_id"] == rule_id
    # The same flags in another order are the same rule: no new version.
    again = await client.put(
        f"/api/v1/rules/{rule_id}", json={**body, "ignore_flags": ["stuck", "out_of_range"]}
    )
    assert (again.status_code, again.json()["version"]) == (200, 1)
    # Ignoring fewer flags changes what it detects: a new version.
    fewer = await client.put(f"/api/v1/rules/{rule_id}", json={**body, "ignore_flags": []})
    assert (fewer.json()["version"], fewer.json()["ignore_flags"]) == (2, [])


async def test_an_unknown_quality_flag_is_a_problem(client: httpx.AsyncClient) -> None:
    body = {**f.gas_rule().model_dump(), "ignore_flags": ["stuck", "wobbly"]}
    response = await client.put("/api/v1/rules/gas-wobbly", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "unknown quality flag 'wobbly'" in response.text
    assert "out_of_range, late, stuck, spike" in response.text
    # A rule without the option evaluates every reading, as before.
    plain = await client.put("/api/v1/rules/gas-plain", json=f.gas_rule().model_dump())
    assert plain.json()["ignore_flags"] == []
