"""The workorder HTTP API in-process (httpx ASGITransport) on the in-process bus and real
PostgreSQL: an AlarmRaised on the bus becomes a work order, the loop closes over HTTP, and the
closing event goes out on rw.workorders for alerting to clear the alarm."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from riskwatch.common.bus import MemoryBus, record_for
from riskwatch.common.events import EventPayload, decode
from riskwatch.common.events.alarms import AlarmSnapshot
from riskwatch.common.events.base import Level
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.events.topics import ALARMS, WORKORDERS
from riskwatch.common.events.workorders import WorkOrderCreated, WorkOrderStateChanged
from riskwatch.common.testing import account_bearer, app_client, eventually, migrate
from riskwatch.workorder.app import create_app
from riskwatch.workorder.module import MIGRATIONS
from riskwatch.workorder.settings import WorkOrderSettings

from .. import factories as f

Json = dict[str, object]


@pytest.fixture
async def bus() -> MemoryBus:
    return MemoryBus()


@pytest.fixture(scope="module")
async def api_db(make_database: Callable[[str], str]) -> str:
    """Its own database: the app commits for real, so its rows must not meet other tests'."""
    url = make_database("workorder_api")
    await migrate(url, [MIGRATIONS])
    return url


@pytest.fixture
async def client(api_db: str, bus: MemoryBus) -> AsyncIterator[httpx.AsyncClient]:
    settings = WorkOrderSettings(
        bus="memory", database={"url": api_db}, outbox_poll_interval_s=0.05
    )
    app = create_app(settings, bus=bus)
    async with app_client(app) as c:
        c.headers.update(await account_bearer(app, settings.auth, subject="handler.li"))
        yield c


async def publish(bus: MemoryBus, event: Envelope[EventPayload]) -> None:
    await bus.publish([record_for(ALARMS, event)])


async def work_order_of(client: httpx.AsyncClient, alarm_id: str) -> Json:
    """Wait for the consumer to open the alarm's work order, then return it."""

    async def find() -> Json | None:
        page = (await client.get("/api/v1/workorders", params={"alarm_id": alarm_id})).json()
        return page["items"][0] if page["items"] else None

    found = await eventually(find)
    assert isinstance(found, dict)
    return found


async def opened(client: httpx.AsyncClient, bus: MemoryBus, level: Level = Level.ORANGE) -> Json:
    alarm = f.alarm(level)
    await publish(bus, f.raised(alarm))
    return await work_order_of(client, alarm.alarm_id)


def workorder_events(bus: MemoryBus, alarm_id: str) -> list[EventPayload]:
    events = [decode(list(m.headers), m.value) for m in bus.records(WORKORDERS)]
    return [e.data for e in events if e.subject == alarm_id]


async def test_every_api_route_needs_a_token(client: httpx.AsyncClient) -> None:
    anonymous = {"Authorization": ""}
    calls = [
        client.get("/api/v1/workorders", headers=anonymous),
        client.get("/api/v1/workorders/x", headers=anonymous),
        client.post("/api/v1/workorders/x/accept", headers=anonymous),
        client.post("/api/v1/workorders/x/dispose", json={"note": "n"}, headers=anonymous),
        client.post("/api/v1/workorders/x/close", json={"feedback": "f"}, headers=anonymous),
    ]
    for call in calls:
        response = await call
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/unauthorized")
    assert (await client.get("/healthz", headers=anonymous)).status_code == 200


async def test_an_alarm_on_the_bus_is_accepted_and_closed_over_http(
    client: httpx.AsyncClient, bus: MemoryBus
) -> None:
    alarm = f.alarm(Level.RED)
    await publish(bus, f.raised(alarm))
    order = await work_order_of(client, alarm.alarm_id)
    assert (order["alarm_id"], order["level"], order["status"]) == (alarm.alarm_id, "red", "open")
    work_order_id = order["work_order_id"]

    accepted = await client.post(f"/api/v1/workorders/{work_order_id}/accept")
    assert accepted.status_code == 200
    assert (accepted.json()["status"], accepted.json()["accepted_by"]) == ("accepted", "handler.li")

    closed = await client.post(
        f"/api/v1/workorders/{work_order_id}/close", json={"feedback": "  valve replaced  "}
    )
    assert closed.status_code == 200
    body = closed.json()
    assert (body["alarm_id"], body["level"], body["status"]) == (alarm.alarm_id, "red", "closed")
    assert (body["feedback"], body["closed_by"]) == ("valve replaced", "handler.li")
    assert [(h["action"], h["to_status"]) for h in body["history"]] == [
        ("create", "open"),
        ("accept", "accepted"),
        ("close", "closed"),
    ]
    detail = (await client.get(f"/api/v1/workorders/{work_order_id}")).json()
    assert detail == body

    async def closing_event() -> WorkOrderStateChanged | None:
        for data in workorder_events(bus, alarm.alarm_id):
            if isinstance(data, WorkOrderStateChanged) and data.to_status == "closed":
                return data
        return None

    event = await eventually(closing_event)
    assert isinstance(event, WorkOrderStateChanged)
    assert (event.action, event.from_status, event.actor) == ("close", "accepted", "handler.li")
    assert event.work_order.work_order_id == work_order_id
    kinds = [type(e) for e in workorder_events(bus, alarm.alarm_id)]
    assert kinds == [WorkOrderCreated, WorkOrderStateChanged, WorkOrderStateChanged]


async def test_redelivered_and_duplicate_alarms_open_one_work_order(
    client: httpx.AsyncClient, bus: MemoryBus
) -> None:
    alarm: AlarmSnapshot = f.alarm(Level.BLUE)
    first = f.raised(alarm)
    await publish(bus, first)
    await publish(bus, first)  # redelivered: the inbox skips it
    await publish(bus, f.raised(alarm))  # same alarm, new event id: the unique alarm_id holds
    # Same key, same partition: once the escalation shows, the duplicates were handled.
    await publish(bus, f.updated(alarm, Level.RED))

    async def escalated() -> list[Json] | None:
        page = (await client.get("/api/v1/workorders", params={"alarm_id": alarm.alarm_id})).json()
        items: list[Json] = page["items"]
        return items if items and items[0]["level"] == "red" else None

    items = await eventually(escalated)
    assert isinstance(items, list)
    assert len(items) == 1
    detail = (await client.get(f"/api/v1/workorders/{items[0]['work_order_id']}")).json()
    assert [h["action"] for h in detail["history"]] == ["create", "escalate"]


async def test_steps_out_of_order_are_409_problems(
    client: httpx.AsyncClient, bus: MemoryBus
) -> None:
    order = await opened(client, bus)
    url = f"/api/v1/workorders/{order['work_order_id']}"
    refused = await client.post(f"{url}/dispose", json={"note": "done"})
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["type"].endswith("/invalid-state")
    assert problem["detail"] == "Cannot dispose a work order that is open; accept it first."
    assert (problem["work_order_status"], problem["action"]) == ("open", "dispose")

    assert (await client.post(f"{url}/accept", json={"note": "mine"})).status_code == 200
    again = await client.post(f"{url}/accept")
    assert again.status_code == 409
    assert (await client.post(f"{url}/dispose", json={"note": "done"})).status_code == 200
    assert (await client.post(f"{url}/close", json={"feedback": "ok"})).status_code == 200
    reopened = await client.post(f"{url}/accept")
    assert reopened.status_code == 409
    assert reopened.json()["work_order_status"] == "closed"
    assert (await client.get(url)).json()["status"] == "closed"


async def test_blank_notes_and_feedback_are_invalid(
    client: httpx.AsyncClient, bus: MemoryBus
) -> None:
    order = await opened(client, bus)
    url = f"/api/v1/workorders/{order['work_order_id']}"
    assert (await client.post(f"{url}/accept")).status_code == 200
    for path, body in [
        ("dispose", {}),
        ("dispose", {"note": "  "}),
        ("close", {"feedback": ""}),
        ("close", {}),
    ]:
        response = await client.post(f"{url}/{path}", json=body)
        assert response.status_code == 422, (path, body)
        assert response.headers["content-type"] == "application/problem+json"
    assert (await client.get(url)).json()["status"] == "accepted"


async def test_unknown_work_order_is_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/workorders/nope")
    assert response.status_code == 404
    assert response.json()["detail"] == "No work order 'nope'."
    response = await client.post("/api/v1/workorders/nope/accept")
    assert response.status_code == 404


async def test_list_filters_and_cursor(client: httpx.AsyncClient, bus: MemoryBus) -> None:
    orders = [await opened(client, bus, Level.YELLOW) for _ in range(3)]
    ids = {o["work_order_id"] for o in orders}
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"level": "yellow", "status": "open", "limit": 1}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/v1/workorders", params=params)).json()
        seen += [i["work_order_id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert ids <= set(seen)
    assert len(seen) == len(set(seen))
    bad = await client.get("/api/v1/workorders", params={"status": "lost"})
    assert bad.status_code == 422
    bad_cursor = await client.get("/api/v1/workorders", params={"cursor": "%%%"})
    assert bad_cursor.status_code == 422
