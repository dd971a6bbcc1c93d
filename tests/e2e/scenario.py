"""The one path, end to end, over HTTP only: a reading goes in at ingest and comes out as an
alarm, a work order dispatched by the demo's command manual, notifications and report counts;
the street's handler walks the loop (accept, on site, clear, a photo, feedback), clearing
clears the alarm, accepting stopped its escalation in notify, the sector's head reviews and
the handler closes it.

The same scenario runs against the distributed stack (one OS process per service, Kafka) and
the embedded platform (one process, in-process bus): only the base URLs differ.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from riskwatch.common.testing import admitted_by_all, eventually

TIMEOUT = 60.0  # a bound on waiting for consumers, not a performance target


@dataclass(frozen=True)
class Urls:
    ingest: str
    alerting: str
    workorder: str
    notify: str
    reporting: str

    @classmethod
    def single(cls, base: str) -> Urls:
        return cls(base, base, base, base, base)


async def login(urls: Urls, password: str, username: str = "simulator") -> dict[str, str]:
    """Headers of a demo account (identity/demo.py; RW_DEMO_PASSWORD): by default the
    simulator's, which may register devices and rules, send readings and move work orders."""
    async with httpx.AsyncClient(base_url=urls.ingest, timeout=30) as client:
        response = await client.post(
            "/api/v1/auth/token", data={"username": username, "password": password}
        )
        assert response.status_code == 200, response.text
    headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
    # Each service knows the account once its snapshot arrived there (ADR 0015).
    await admitted_by_all(
        {
            "ingest": urls.ingest,
            "alerting": urls.alerting,
            "workorder": urls.workorder,
            "notify": urls.notify,
            "reporting": urls.reporting,
        },
        headers,
    )
    return headers


def this_month() -> str:
    return datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")


async def report(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/api/v1/reports/monthly", params={"month": this_month()})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def tiny_png() -> bytes:
    """A real 1x1 PNG: a photo for the closure (the demo manual wants one for a red gas alarm)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@dataclass(frozen=True)
class People:
    """Who does what: the simulator registers and sends, the street's handler walks the loop,
    the sector's department head reviews the closure."""

    simulator: dict[str, str]
    handler: dict[str, str]
    reviewer: dict[str, str]

    @classmethod
    async def login(cls, urls: Urls, password: str) -> People:
        return cls(
            await login(urls, password),
            await login(urls, password, "handler.lujiazui"),
            await login(urls, password, "construction-head"),
        )


async def run_one_path(urls: Urls, people: People) -> str:
    """Drive one red reading through every service; returns the alarm id."""
    headers = people.simulator
    suffix = uuid.uuid4().hex[:8]
    device_id, metric, rule_id = f"e2e-gas-{suffix}", f"ch4_lel_{suffix}", f"e2e-{suffix}"

    def client(base: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=base, headers=headers, timeout=30)

    async with (
        client(urls.ingest) as ingest,
        client(urls.alerting) as alerting,
        client(urls.workorder) as workorder,
        client(urls.notify) as notify,
        client(urls.reporting) as reporting,
    ):
        before = await report(reporting)
        device = await ingest.put(
            f"/api/v1/devices/{device_id}",
            json={"name": "E2E valve well", "scenario_id": "gas", "town_id": "lujiazui"},
        )
        assert device.status_code == 201, device.text
        rule = await alerting.put(
            f"/api/v1/rules/{rule_id}",
            json={
                "name": "E2E methane",
                "scenario_id": "gas",
                "metric": metric,
                "direction": "above",
                "blue": 10,
                "yellow": 20,
                "orange": 25,
                "red": 50,
            },
        )
        assert rule.status_code == 201, rule.text

        now = datetime.now(UTC).isoformat()
        posted = await ingest.post(
            "/api/v1/readings",
            json=[
                {"device_id": device_id, "metric": metric, "value": 61.5, "ts": now},
                {"device_id": "no-such-device", "metric": metric, "value": 1, "ts": now},
            ],
        )
        assert posted.status_code == 202, posted.text
        assert (posted.json()["accepted"], posted.json()["rejected"]) == (1, 1)

        async def the_alarm() -> dict[str, Any] | None:
            items = (await alerting.get("/api/v1/alarms", params={"device_id": device_id})).json()
            return items["items"][0] if items["items"] else None

        alarm: Any = await eventually(the_alarm, timeout=TIMEOUT)
        assert (alarm["level"], alarm["status"], alarm["rule_id"]) == ("red", "active", rule_id)
        alarm_id = alarm["alarm_id"]

        async def the_work_order() -> dict[str, Any] | None:
            page = (await workorder.get("/api/v1/workorders", params={"alarm_id": alarm_id})).json()
            return page["items"][0] if page["items"] else None

        order: Any = await eventually(the_work_order, timeout=TIMEOUT)
        assert (order["alarm_id"], order["level"], order["status"]) == (
            alarm_id,
            "red",
            "dispatched",
        )
        assert order["unit_id"] == "street-lujiazui"  # the street duty center first

        async def delivered() -> list[dict[str, Any]] | None:
            page = (await notify.get("/api/v1/notifications", params={"alarm_id": alarm_id})).json()
            items: list[dict[str, Any]] = page["items"]
            channels = {n["channel"] for n in items if n["status"] == "delivered"}
            return items if {"in_app", "sms"} <= channels else None

        notifications: Any = await eventually(delivered, timeout=TIMEOUT)
        assert all(n["alarm_id"] == alarm_id and n["level"] == "red" for n in notifications)

        async def counted() -> dict[str, Any] | None:
            now_report = await report(reporting)
            grew = (
                now_report["alarms"]["by_level"]["red"] == before["alarms"]["by_level"]["red"] + 1
                and now_report["work_orders"]["open"] == before["work_orders"]["open"] + 1
            )
            return now_report if grew else None

        counts: Any = await eventually(counted, timeout=TIMEOUT)
        assert (
            counts["alarms"]["by_sector"]["construction"]
            == before["alarms"]["by_sector"]["construction"] + 1
        )

        # A repeated breach updates the same alarm, never a second one.
        again = await ingest.post(
            "/api/v1/readings",
            json=[
                {
                    "device_id": device_id,
                    "metric": metric,
                    "value": 70.0,
                    "ts": datetime.now(UTC).isoformat(),
                }
            ],
        )
        assert again.status_code == 202

        async def repeated() -> bool:
            page = (await alerting.get("/api/v1/alarms", params={"device_id": device_id})).json()
            return len(page["items"]) == 1 and page["items"][0]["breach_count"] == 2

        await eventually(repeated, timeout=TIMEOUT)

        # The street's handler walks the loop; clearing (销警) clears the alarm.
        wo = f"/api/v1/workorders/{order['work_order_id']}"
        hands = {"headers": people.handler}
        steps: list[tuple[str, dict[str, Any]]] = [
            ("accept", {}),
            ("arrive", {"lon": 121.505, "lat": 31.238}),  # inside Lujiazui's box
            ("clear", {"note": "Valve closed, gas at 0 %LEL"}),
        ]
        for path, body in steps:
            answer = await workorder.post(f"{wo}/{path}", json=body, **hands)
            assert answer.status_code == 200, (path, answer.text)

        async def cleared() -> bool:
            body = (await alerting.get(f"/api/v1/alarms/{alarm_id}")).json()
            return bool(body["status"] == "cleared" and body["cleared_reason"] == "disposed")

        await eventually(cleared, timeout=TIMEOUT)

        photo = await workorder.post(
            f"{wo}/attachments",
            files={"file": ("valve.png", tiny_png(), "image/png")},
            data={"kind": "photo"},
            **hands,
        )
        assert photo.status_code == 201, photo.text
        fed_back = await workorder.post(
            f"{wo}/feedback",
            json={
                "fields": {
                    "cause": "Corroded flange gasket",
                    "measures": "Gasket replaced, re-measured for 10 min",
                    "gas_company_crew": "Crew 3",
                }
            },
            **hands,
        )
        assert fed_back.status_code == 200, fed_back.text
        assert fed_back.json()["status"] == "feedback", fed_back.json()["quality_problems"]
        reviewed = await workorder.post(f"{wo}/review", json={}, headers=people.reviewer)
        assert reviewed.status_code == 200, reviewed.text
        closed = await workorder.post(f"{wo}/close", json={}, **hands)
        assert closed.status_code == 200, closed.text
        assert closed.json()["status"] == "closed"

        # The alarm's escalation (its first step was the notifications above) stopped when its
        # work order was accepted (接单): no reminder, no head of department for an alarm someone
        # has taken up, nor after it is over.
        async def escalation_stopped() -> bool:
            response = await notify.get(f"/api/v1/escalations/{alarm_id}")
            assert response.status_code == 200, response.text
            body = response.json()
            return bool(body["status"] == "accepted" and body["next_step_at"] is None)

        await eventually(escalation_stopped, timeout=TIMEOUT)

        async def report_sees_closure() -> bool:
            now_report = await report(reporting)
            return bool(now_report["work_orders"]["open"] == before["work_orders"]["open"])

        await eventually(report_sees_closure, timeout=TIMEOUT)
        return str(alarm_id)
