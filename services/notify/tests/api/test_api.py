"""The notify HTTP API in-process (httpx ASGITransport) on the in-process bus and real
PostgreSQL, with the demo roster and the file SMS provider: an alarm on the bus becomes
delivered notifications, SMS lines, events on rw.notifications, and an acknowledgement."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from riskwatch.common.access import DISTRICT
from riskwatch.common.bus import MemoryBus, record_for
from riskwatch.common.events import EventPayload, Level, decode
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.events.notifications import (
    NotificationAcknowledged,
    NotificationDelivered,
    NotificationDispatched,
)
from riskwatch.common.events.topics import ALARMS, NOTIFICATIONS
from riskwatch.common.settings import DatabaseSettings
from riskwatch.common.testing import (
    account_bearer,
    app_client,
    engine_for,
    eventually,
    migrate,
)
from riskwatch.notify.app import create_app
from riskwatch.notify.models import outbox
from riskwatch.notify.module import MIGRATIONS
from riskwatch.notify.settings import NotifySettings

from .. import factories as f


@pytest.fixture(scope="module")
async def api_db(make_database: Callable[[str], str]) -> str:
    """Its own database: the app commits for real, so its rows must not meet other tests'."""
    url = make_database("notify_api")
    await migrate(url, [MIGRATIONS])
    return url


@pytest.fixture
async def bus() -> MemoryBus:
    return MemoryBus()


@pytest.fixture
def sms_file(tmp_path: Path) -> Path:
    return tmp_path / "sms-outbox.jsonl"


@dataclass
class Started:
    app: FastAPI
    settings: NotifySettings
    client: httpx.AsyncClient

    async def headers_of(self, username: str) -> dict[str, str]:
        """A token of another account (a handler over the district)."""
        return await account_bearer(
            self.app, self.settings.auth, username, roles=("handler",), scope=DISTRICT
        )


@pytest.fixture
async def started(api_db: str, bus: MemoryBus, sms_file: Path) -> AsyncIterator[Started]:
    settings = NotifySettings(
        bus="memory",
        database=DatabaseSettings(url=api_db),
        outbox_poll_interval_s=0.05,
        seed_demo_roster=True,
        sms_provider="file",
        sms_file=sms_file,
        dispatcher_poll_interval_s=0.2,
    )
    app = create_app(settings, bus=bus)
    async with app_client(app) as c:
        c.headers.update(await account_bearer(app, settings.auth))
        yield Started(app, settings, c)


@pytest.fixture
def client(started: Started) -> httpx.AsyncClient:
    return started.client


def sms_lines(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def notification_events(bus: MemoryBus, alarm_id: str) -> list[Envelope[EventPayload]]:
    return [
        decode(m.headers, m.value) for m in bus.records(NOTIFICATIONS) if m.key == alarm_id.encode()
    ]


async def test_every_api_route_needs_a_token(client: httpx.AsyncClient) -> None:
    no_token = {"Authorization": ""}
    for method, path in [
        ("GET", "/api/v1/notifications"),
        ("GET", "/api/v1/notifications/some-id"),
        ("POST", "/api/v1/notifications/some-id/ack"),
        ("GET", "/api/v1/duty-centers"),
        ("GET", "/api/v1/duty-centers/district"),
        ("GET", "/api/v1/duty-centers/district/on-duty"),
    ]:
        response = await client.request(method, path, headers=no_token)
        assert response.status_code == 401, path
        assert response.headers["content-type"] == "application/problem+json"
    assert (await client.get("/healthz", headers=no_token)).status_code == 200


async def test_an_alarm_on_the_bus_reaches_the_people_on_duty(
    client: httpx.AsyncClient, bus: MemoryBus, sms_file: Path
) -> None:
    alarm = f.alarm(Level.ORANGE, dev=f.device("gas-api-1", town_id="lujiazui"))
    await bus.publish([record_for(ALARMS, f.raised(alarm))])

    async def delivered() -> list[dict[str, object]] | None:
        page = await client.get("/api/v1/notifications", params={"alarm_id": alarm.alarm_id})
        items: list[dict[str, object]] = page.json()["items"]
        done = len(items) == 6 and all(i["status"] == "delivered" for i in items)
        return items if done else None

    # Street center, sector center and (orange) district: one person on duty in each, in the
    # app and by SMS.
    items = await eventually(delivered)
    assert isinstance(items, list)
    assert {(i["duty_center_id"], i["channel"]) for i in items} == {
        (center, channel)
        for center in ("street-lujiazui", "sector-construction", "district")
        for channel in ("in_app", "sms")
    }
    assert {(i["alarm_id"], i["level"]) for i in items} == {(alarm.alarm_id, "orange")}
    assert all(i["alarm_received_at"] for i in items)
    sms_items = [i for i in items if i["channel"] == "sms"]
    lines = sms_lines(sms_file)
    assert sorted((line["to"], line["message_id"]) for line in lines) == sorted(
        (i["recipient"], i["provider_message_id"]) for i in sms_items
    )
    # In the demo people's language (zh-CN), naming the place and how to acknowledge.
    assert all("橙色" in line["text"] for line in lines)
    assert all("Lujiazui" in line["text"] for line in lines)
    assert all(f"QS {alarm.alarm_id[:8]}" in line["text"] for line in lines)

    # The outbox relay publishes what was dispatched and delivered, keyed by alarm.
    async def published() -> list[type[EventPayload]] | None:
        kinds = [type(e.data) for e in notification_events(bus, alarm.alarm_id)]
        return kinds if len(kinds) == 12 else None

    kinds = await eventually(published)
    assert isinstance(kinds, list)
    assert sorted(k.__name__ for k in kinds) == sorted(
        [NotificationDispatched.__name__] * 6 + [NotificationDelivered.__name__] * 6
    )

    # Filters, one notification, and pages.
    sms_only = await client.get(
        "/api/v1/notifications", params={"alarm_id": alarm.alarm_id, "channel": "sms"}
    )
    assert {i["channel"] for i in sms_only.json()["items"]} == {"sms"}
    assert len(sms_only.json()["items"]) == 3
    one = items[0]
    by_id = await client.get(f"/api/v1/notifications/{one['notification_id']}")
    assert by_id.json() == one
    first = await client.get(
        "/api/v1/notifications", params={"alarm_id": alarm.alarm_id, "limit": 4}
    )
    assert len(first.json()["items"]) == 4
    assert first.json()["next_cursor"]
    second = await client.get(
        "/api/v1/notifications",
        params={"alarm_id": alarm.alarm_id, "limit": 4, "cursor": first.json()["next_cursor"]},
    )
    assert second.json()["next_cursor"] is None
    paged = [i["notification_id"] for i in first.json()["items"] + second.json()["items"]]
    assert sorted(paged) == sorted(i["notification_id"] for i in items)


async def test_only_the_person_notified_acknowledges_and_twice_is_once(
    started: Started, bus: MemoryBus, api_db: str
) -> None:
    client = started.client
    alarm = f.alarm(Level.YELLOW, dev=f.device("gas-api-2", town_id="zhangjiang"))
    await bus.publish([record_for(ALARMS, f.raised(alarm))])

    async def in_app_delivered() -> dict[str, object] | None:
        page = await client.get(
            "/api/v1/notifications",
            params={"alarm_id": alarm.alarm_id, "channel": "in_app", "status": "delivered"},
        )
        items: list[dict[str, object]] = page.json()["items"]
        return items[0] if items else None

    target = await eventually(in_app_delivered)
    assert isinstance(target, dict)
    notification_id = target["notification_id"]
    person = str(target["person_id"])
    # The operator ("tester") sees it but it was not sent to them: 403, nothing changes.
    refused = await client.post(f"/api/v1/notifications/{notification_id}/ack")
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert person in refused.json()["detail"]
    mine = await started.headers_of(person)
    first = await client.post(f"/api/v1/notifications/{notification_id}/ack", headers=mine)
    assert first.status_code == 200
    body = first.json()
    assert (body["status"], body["acknowledged_by"], body["acknowledged_via"]) == (
        "acknowledged",
        person,
        "api",
    )
    again = await client.post(f"/api/v1/notifications/{notification_id}/ack", headers=mine)
    assert again.status_code == 200
    assert again.json() == body

    async def acknowledged_on_the_bus() -> list[EventPayload]:
        return [
            e.data
            for e in notification_events(bus, alarm.alarm_id)
            if isinstance(e.data, NotificationAcknowledged)
        ]

    events = await eventually(acknowledged_on_the_bus)
    assert isinstance(events, list)
    # Both acknowledgements have committed: the outbox holds exactly one event for it.
    engine = engine_for(api_db)
    async with engine.connect() as conn:
        staged = await conn.scalar(
            select(func.count())
            .select_from(outbox.table)
            .where(
                outbox.table.c.key == alarm.alarm_id,
                outbox.table.c.headers["ce_type"].astext == NotificationAcknowledged.event_type,
            )
        )
    await engine.dispose()
    assert staged == 1
    ack = events[0]
    assert isinstance(ack, NotificationAcknowledged)
    assert (ack.notification.notification_id, ack.acknowledged_by, ack.via) == (
        notification_id,
        person,
        "api",
    )
    escalation = await client.get(f"/api/v1/escalations/{alarm.alarm_id}")
    assert escalation.status_code == 200
    assert (escalation.json()["status"], escalation.json()["acknowledged_by"]) == (
        "acknowledged",
        person,
    )
    status = await client.get(
        "/api/v1/notifications", params={"alarm_id": alarm.alarm_id, "status": "acknowledged"}
    )
    assert [i["notification_id"] for i in status.json()["items"]] == [notification_id]


async def test_ack_of_what_has_not_arrived_or_does_not_exist(client: httpx.AsyncClient) -> None:
    missing = await client.post("/api/v1/notifications/nope/ack")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "No notification 'nope'."
    bad_filter = await client.get("/api/v1/notifications", params={"status": "lost"})
    assert bad_filter.status_code == 422


async def test_duty_centers_and_who_is_on_duty_now(client: httpx.AsyncClient) -> None:
    sectors = await client.get("/api/v1/duty-centers", params={"kind": "sector", "limit": 500})
    assert len(sectors.json()["items"]) == 7
    assert {c["sector_id"] for c in sectors.json()["items"]} >= {"construction", "emergency"}
    center = await client.get("/api/v1/duty-centers/street-lujiazui")
    assert (center.json()["kind"], center.json()["town_id"]) == ("street", "lujiazui")
    on_duty = (await client.get("/api/v1/duty-centers/street-lujiazui/on-duty")).json()
    assert len(on_duty["people"]) == 1
    person = on_duty["people"][0]
    now = datetime.now(UTC)
    shift = person["shift"]
    assert (
        datetime.fromisoformat(shift["starts_at"]) <= now < datetime.fromisoformat(shift["ends_at"])
    )
    assert person["phone"].startswith("+86100")
    # The demo staffs four street centers; Gaoqiao's exists, with nobody on duty.
    nobody = (await client.get("/api/v1/duty-centers/street-gaoqiao/on-duty")).json()
    assert (nobody["people"], nobody["attendance"]) == ([], "unstaffed")
    streets = await client.get("/api/v1/duty-centers", params={"kind": "street", "limit": 500})
    assert len(streets.json()["items"]) == 36
    missing = await client.get("/api/v1/duty-centers/nope/on-duty")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


async def test_who_is_on_duty_at_a_time_out_of_range_is_a_problem(
    client: httpx.AsyncClient,
) -> None:
    # Year 1 at +14:00 is in year 0 in UTC: no timestamp PostgreSQL (or Python) can hold.
    for at in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"):
        response = await client.get("/api/v1/duty-centers/district/on-duty", params={"at": at})
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
    ok = await client.get(
        "/api/v1/duty-centers/district/on-duty", params={"at": "2026-11-22T09:00:00+08:00"}
    )
    assert ok.status_code == 200
    assert ok.json()["at"] == "2026-11-22T01:00:00Z"


async def test_escalation_policies_are_versions_edited_district_wide(started: Started) -> None:
    client = started.client
    default = await client.get("/api/v1/escalation-policies")
    assert default.status_code == 200
    assert default.json()["version"] == 0
    red = default.json()["policies"]["red"]
    assert [s["after_min"] for s in red["steps"]] == [0, 3, 10, 20]
    assert red["steps"][1]["channels"] == ["voice"]
    quick = {
        "steps": [
            {"after_min": 0, "targets": [{"kind": "on_duty"}], "channels": ["in_app", "sms"]},
            {"after_min": 0.5, "targets": [{"kind": "on_duty"}], "channels": ["voice"]},
        ],
        "repeat": {"from_step": 1, "every_min": 1, "rounds": 2},
    }
    put = await client.put("/api/v1/escalation-policies", json={"policies": {"red": quick}})
    assert put.status_code == 200
    assert put.json()["version"] == 1
    stored = put.json()["policies"]["red"]
    assert [(s["after_min"], s["channels"]) for s in stored["steps"]] == [
        (0, ["in_app", "sms"]),
        (0.5, ["voice"]),
    ]
    assert stored["repeat"] == quick["repeat"]
    assert put.json()["policies"]["blue"] == default.json()["policies"]["blue"]
    # What cannot run is refused with every reason.
    broken = {
        "steps": [
            {"after_min": 5, "targets": [{"kind": "robot"}], "channels": ["sms"]},
            {"after_min": 1, "targets": [{"kind": "role"}], "channels": ["sms"]},
        ]
    }
    refused = await client.put("/api/v1/escalation-policies", json={"policies": {"red": broken}})
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert "webhook channel" in detail
    assert "must not decrease" in detail
    assert "needs a role" in detail
    # Only district-wide accounts edit them.
    sector_head = await account_bearer(
        started.app,
        started.settings.auth,
        "head.gas",
        roles=("department_head",),
        scope="sector:construction",
    )
    forbidden = await client.put(
        "/api/v1/escalation-policies", json={"policies": {"red": quick}}, headers=sector_head
    )
    assert forbidden.status_code == 403
    versions = await client.get("/api/v1/escalation-policies/versions")
    assert [v["version"] for v in versions.json()["items"]] == [1]
