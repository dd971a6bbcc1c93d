"""The workorder HTTP API in-process (httpx ASGITransport) on the in-process bus and real
PostgreSQL: an AlarmRaised on the bus becomes a dispatched work order, the loop closes over
HTTP, the command manual is drafted and approved, and stage timers fire once across a restart
(issue 10's "done when")."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import httpx
import pytest

from riskwatch.common.bus import MemoryBus, record_for
from riskwatch.common.events import EventPayload, decode, new_event
from riskwatch.common.events.base import Level
from riskwatch.common.events.duty import DutyCenterChanged
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.events.topics import ALARMS, DUTY, WORKORDERS
from riskwatch.common.events.workorders import (
    WorkOrderCreated,
    WorkOrderDeadlineApproaching,
    WorkOrderOverdue,
    WorkOrderStateChanged,
)
from riskwatch.common.testing import app_client, bearer, eventually, grant, migrate
from riskwatch.workorder.app import create_app
from riskwatch.workorder.module import MIGRATIONS
from riskwatch.workorder.settings import WorkOrderSettings

from .. import factories as f

Json = dict[str, object]
UNIT = "street-lujiazui"
HANDLER = "handler.li"


@pytest.fixture
async def bus() -> MemoryBus:
    return MemoryBus()


@pytest.fixture(scope="module")
async def api_db(make_database: Callable[[str], str]) -> str:
    """Its own database: the app commits for real, so its rows must not meet other tests'."""
    url = make_database("workorder_api")
    await migrate(url, [MIGRATIONS])
    return url


def settings_for(url: str, **extra: object) -> WorkOrderSettings:
    return WorkOrderSettings(
        bus="memory",
        database={"url": url},
        outbox_poll_interval_s=0.05,
        timer_poll_s=0.2,
        **extra,  # type: ignore[arg-type]
    )


async def as_(app: object, settings: WorkOrderSettings, name: str, *roles: str) -> dict[str, str]:
    await grant(app, name, roles=roles)  # type: ignore[arg-type]
    return bearer(settings.auth, name, roles=roles)


@pytest.fixture
async def client(api_db: str, bus: MemoryBus) -> AsyncIterator[httpx.AsyncClient]:
    settings = settings_for(api_db)
    app = create_app(settings, bus=bus)
    async with app_client(app) as c:
        c.headers.update(await as_(app, settings, HANDLER, "handler"))
        c.extensions = {  # type: ignore[attr-defined]
            "dispatcher": await as_(app, settings, "disp.wang", "business_admin"),
            "head": await as_(app, settings, "head.zhou", "department_head"),
            "stranger": await as_(app, settings, "other.ma", "handler"),
        }
        await staff(bus, UNIT, HANDLER)
        yield c


def headers(client: httpx.AsyncClient, who: str) -> dict[str, str]:
    found: dict[str, str] = client.extensions[who]  # type: ignore[attr-defined]
    return found


async def staff(bus: MemoryBus, unit: str, *people: str) -> None:
    event = DutyCenterChanged(
        duty_center_id=unit,
        name=unit,
        leader_id=None,
        member_ids=list(people),
        changed_at=datetime.now(UTC),
    )
    envelope = new_event(event, source="/riskwatch/notify", subject=unit)
    await bus.publish([record_for(DUTY, envelope, key=unit)])


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


def workorder_events(bus: MemoryBus, subject: str) -> list[EventPayload]:
    events = [decode(list(m.headers), m.value) for m in bus.records(WORKORDERS)]
    return [e.data for e in events if e.subject == subject]


async def test_every_api_route_needs_a_token(client: httpx.AsyncClient) -> None:
    anonymous = {"Authorization": ""}
    calls = [
        client.get("/api/v1/workorders", headers=anonymous),
        client.post("/api/v1/workorders", json={}, headers=anonymous),
        client.get("/api/v1/workorders/x", headers=anonymous),
        client.post("/api/v1/workorders/x/accept", headers=anonymous),
        client.post("/api/v1/workorders/x/clear", json={"note": "n"}, headers=anonymous),
        client.get("/api/v1/command-manual", headers=anonymous),
        client.post("/api/v1/command-manual/versions", content=b"x", headers=anonymous),
        client.get("/api/v1/overdue-bulletins", headers=anonymous),
    ]
    for call in calls:
        response = await call
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
    assert (await client.get("/healthz", headers=anonymous)).status_code == 200


async def test_an_alarm_s_order_walks_the_loop_over_http(
    client: httpx.AsyncClient, bus: MemoryBus
) -> None:
    alarm = f.alarm(Level.RED)
    await publish(bus, f.raised(alarm))
    order = await work_order_of(client, alarm.alarm_id)
    assert (order["status"], order["unit_id"]) == ("dispatched", UNIT)
    url = f"/api/v1/workorders/{order['work_order_id']}"
    steps: list[tuple[str, Json | None]] = [
        ("accept", {"note": "on my way"}),
        ("arrive", {"lon": 121.51, "lat": 31.23}),
        ("clear", {"note": "valve closed"}),
        ("feedback", {"fields": {"cause": "loose flange", "measures": "tightened"}}),
        ("review", None),
        ("close", None),
    ]
    for path, body in steps:
        # Reviewing the closure data is a reviewer's (a department head here).
        who = headers(client, "head") if path == "review" else {}
        response = await client.post(f"{url}/{path}", json=body, headers=who)
        assert response.status_code == 200, (path, response.json())
    detail = response.json()
    assert (detail["status"], detail["closed_by"], detail["allowed_actions"]) == (
        "closed",
        HANDLER,
        ["reopen"],
    )
    assert [h["action"] for h in detail["history"]] == [
        "create",
        "dispatch",
        "accept",
        "arrive",
        "clear",
        "feedback",
        "review",
        "close",
    ]

    async def clear_event() -> WorkOrderStateChanged | None:
        for data in workorder_events(bus, alarm.alarm_id):
            if isinstance(data, WorkOrderStateChanged) and data.action == "close":
                return data
        return None

    assert await eventually(clear_event)
    kinds = [type(e) for e in workorder_events(bus, alarm.alarm_id)]
    assert kinds == [WorkOrderCreated] + [WorkOrderStateChanged] * 7


async def test_an_illegal_action_answers_409_with_the_allowed_ones(
    client: httpx.AsyncClient, bus: MemoryBus
) -> None:
    order = await opened(client, bus)
    url = f"/api/v1/workorders/{order['work_order_id']}"
    refused = await client.post(f"{url}/clear", json={"note": "done"})
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["type"].endswith("/invalid-state")
    assert (problem["work_order_status"], problem["action"]) == ("dispatched", "clear")
    assert problem["allowed"] == [
        "accept",
        "return",
        "transfer",
        "false_alarm",
        "supervise",
        "escalate_tier",
        "escalate_level",
    ]
    assert "allowed now: accept, return" in problem["detail"]
    assert (await client.get(url)).json()["status"] == "dispatched"


async def test_a_returned_order_goes_back_to_dispatch(
    client: httpx.AsyncClient, bus: MemoryBus
) -> None:
    order = await opened(client, bus)
    url = f"/api/v1/workorders/{order['work_order_id']}"
    assert (await client.post(f"{url}/accept")).status_code == 200
    returned = await client.post(f"{url}/return", json={"reason": "not our street"})
    assert returned.status_code == 200
    body = returned.json()
    assert (body["status"], body["assignee"], body["allowed_actions"][0]) == (
        "returned",
        None,
        "dispatch",
    )
    assert body["history"][-1]["note"] == "not our street"
    # The handler may not send it on; the dispatcher may.
    dispatched = await client.post(
        f"{url}/dispatch",
        json={"unit_id": "street-huamu", "assignee": "qian.huamu"},
        headers=headers(client, "dispatcher"),
    )
    assert dispatched.status_code == 200
    assert (dispatched.json()["status"], dispatched.json()["unit_id"]) == (
        "dispatched",
        "street-huamu",
    )
    # Not the handler's unit any more: a 403 that says whose it is.
    forbidden = await client.post(f"{url}/accept")
    assert forbidden.status_code == 403
    assert forbidden.json()["assignee"] == "qian.huamu"


async def test_someone_outside_the_unit_may_not_act(
    client: httpx.AsyncClient, bus: MemoryBus
) -> None:
    order = await opened(client, bus)
    url = f"/api/v1/workorders/{order['work_order_id']}/accept"
    response = await client.post(url, headers=headers(client, "stranger"))
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_hand_made_report_and_the_filters(
    client: httpx.AsyncClient, bus: MemoryBus
) -> None:
    response = await client.post(
        "/api/v1/workorders",
        json={
            "origin": "public",
            "scenario_id": "gas",
            "level": "yellow",
            "town_id": "lujiazui",
            "title": "Gas smell at Century Ave 88",
            "lon": 121.51,
            "lat": 31.23,
        },
    )
    assert response.status_code == 201, response.json()
    made = response.json()
    assert (made["origin"], made["status"], made["unit_id"]) == ("public", "dispatched", UNIT)
    mine = await client.get("/api/v1/workorders", params={"unit_id": UNIT, "limit": 200})
    assert made["work_order_id"] in [o["work_order_id"] for o in mine.json()["items"]]
    accepted = await client.post(f"/api/v1/workorders/{made['work_order_id']}/accept")
    assert accepted.json()["assignee"] is None  # the unit's order, taken by one of its staff
    bad = await client.post(
        "/api/v1/workorders",
        json={"origin": "public", "scenario_id": "nowhere", "title": "t"},
    )
    assert bad.status_code == 422
    overdue = await client.get("/api/v1/workorders", params={"overdue": "true"})
    assert overdue.status_code == 200
    assert all(o["status"] != "closed" for o in overdue.json()["items"])


MANUAL_YAML = """
note: test manual
entries:
  - scenario_id: gas
    level: red
    unit: "street-{town_id}"
    disposal_standard: cut the gas
    tier: medium
    limits: {accept: 5, on_site: 20, clear: 60, feedback: 90, close: 120}
    required_fields: [cause]
"""


async def test_the_command_manual_is_drafted_then_approved_by_another_head(
    client: httpx.AsyncClient,
) -> None:
    dispatcher, head = headers(client, "dispatcher"), headers(client, "head")
    drafted = await client.post(
        "/api/v1/command-manual/versions/import",
        content=MANUAL_YAML.encode(),
        headers={**dispatcher, "Content-Type": "application/yaml"},
    )
    assert drafted.status_code == 201, drafted.json()
    version = drafted.json()["version"]
    assert drafted.json()["status"] == "draft"
    # The handler cannot draft; the drafter (not a department head) cannot approve.
    assert (
        await client.post("/api/v1/command-manual/versions/import", content=MANUAL_YAML.encode())
    ).status_code == 403
    approve = f"/api/v1/command-manual/versions/{version}/approve"
    assert (await client.post(approve, headers=dispatcher)).status_code == 403
    approved = await client.post(approve, json={"note": "checked"}, headers=head)
    assert approved.status_code == 200
    assert (approved.json()["status"], approved.json()["reviewed_by"]) == ("approved", "head.zhou")
    current = (await client.get("/api/v1/command-manual")).json()
    assert current["version"] == version
    assert current["entries"][0]["tier"] == "medium"
    assert (await client.post(approve, headers=head)).status_code == 409
    # The same as JSON: a new draft, the approved version stays in force.
    as_json = await client.post(
        "/api/v1/command-manual/versions",
        json={"entries": current["entries"], "note": "as JSON"},
        headers=dispatcher,
    )
    assert as_json.status_code == 201, as_json.json()
    assert (as_json.json()["version"], as_json.json()["status"]) == (version + 1, "draft")
    assert (await client.get("/api/v1/command-manual")).json()["version"] == version
    bad = await client.post(
        "/api/v1/command-manual/versions/import",
        content=b"entries:\n  - scenario_id: nowhere\n",
        headers={**dispatcher, "Content-Type": "application/yaml"},
    )
    assert bad.status_code == 422
    assert bad.json()["problems"]


async def test_stage_timers_fire_at_their_times_once_across_a_restart(
    make_database: Callable[[str], str],
) -> None:
    """Done when: with short limits set, the reminder fires at 80 % of the accept stage and the
    overdue event at its limit, once each, while the service is stopped and started again in
    between. The real clock runs: the limit is 6 s."""
    url = make_database("workorder_timers")
    await migrate(url, [MIGRATIONS])
    bus = MemoryBus()
    manual = MANUAL_YAML.replace("{accept: 5,", "{accept: 0.1,").replace("    level: red\n", "")
    alarm = f.alarm(Level.YELLOW, alarm_id=str(uuid.uuid4()))

    def events() -> list[EventPayload]:
        return workorder_events(bus, alarm.alarm_id)

    settings = settings_for(url)
    app = create_app(settings, bus=bus)
    async with app_client(app) as c:
        draft = await c.post(
            "/api/v1/command-manual/versions/import",
            content=manual.encode(),
            headers={
                **(await as_(app, settings, "disp.wang", "business_admin")),
                "Content-Type": "application/yaml",
            },
        )
        head = await as_(app, settings, "head.zhou", "department_head")
        assert draft.status_code == 201, draft.json()
        approve = f"/api/v1/command-manual/versions/{draft.json()['version']}/approve"
        assert (await c.post(approve, headers=head)).status_code == 200
        await publish(bus, f.raised(alarm))

        async def reminded() -> bool:
            return any(isinstance(e, WorkOrderDeadlineApproaching) for e in events())

        await eventually(reminded)
    # Stopped after the reminder, before the limit (4.8 s of 6 s): a new process fires it.
    app = create_app(settings, bus=bus)
    async with app_client(app) as c:
        c.headers.update(await as_(app, settings, "head.zhou", "department_head"))

        async def overdue() -> bool:
            return any(isinstance(e, WorkOrderOverdue) for e in events())

        await eventually(overdue)
        order = await work_order_of(c, alarm.alarm_id)
        detail = (await c.get(f"/api/v1/workorders/{order['work_order_id']}")).json()
    reminders = [e for e in events() if isinstance(e, WorkOrderDeadlineApproaching)]
    overdues = [e for e in events() if isinstance(e, WorkOrderOverdue)]
    assert len(reminders) == 1
    assert len(overdues) == 1
    (reminder,), (late,) = reminders, overdues
    created = datetime.fromisoformat(str(order["created_at"]))
    assert reminder.stage == late.stage == "accept"
    assert reminder.stage_due_at == late.stage_due_at
    assert (late.stage_due_at - created).total_seconds() == pytest.approx(6.0)
    assert reminder.reminded_at >= created + (late.stage_due_at - created) * 0.8
    assert late.overdue_at >= late.stage_due_at
    assert [h["action"] for h in detail["history"]] == ["create", "dispatch", "remind", "overdue"]
