"""Issue 8's "done when", over the notify API in-process (real PostgreSQL, in-process bus, file
SMS provider): a center, two members and a week's roster are published and each member is told
their shifts; a shift runs with nobody checked in, and after the grace period the leader is told
and an alarm for that town also reaches the next level up; a check-in (by API, by SMS reply)
shows in the on-duty view and ends the fallback. Also how a center and a member are reached:
a center's group robot (read back masked) and a member's e-mail and locale."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from riskwatch.common.bus import MemoryBus, record_for
from riskwatch.common.catalog import default_catalog
from riskwatch.common.events import Level, decode
from riskwatch.common.events.duty import DutyCenterChanged, DutyCheckedIn, RosterPublished
from riskwatch.common.events.topics import ALARMS, DUTY
from riskwatch.common.settings import DatabaseSettings
from riskwatch.common.testing import account_bearer, app_client, eventually, migrate
from riskwatch.notify.app import create_app
from riskwatch.notify.module import MIGRATIONS
from riskwatch.notify.settings import NotifySettings

from .. import factories as f

DAY_NIGHT = [
    {"name": "day", "start": "08:30", "end": "17:30"},
    {"name": "night", "start": "17:30", "end": "08:30"},
]


@pytest.fixture
async def duty_db(make_database: Callable[[str], str]) -> str:
    url = make_database(f"notify_duty_{uuid.uuid4().hex[:8]}")
    await migrate(url, [MIGRATIONS])
    return url


@pytest.fixture
async def bus() -> MemoryBus:
    return MemoryBus()


class Platform:
    def __init__(self, client: httpx.AsyncClient, headers: dict[str, dict[str, str]]) -> None:
        self.client = client
        self.headers = headers

    async def call(
        self, who: str, method: str, path: str, *, expect: int = 200, **kwargs: Any
    ) -> Any:
        response = await self.client.request(method, path, headers=self.headers[who], **kwargs)
        assert response.status_code == expect, (path, response.text)
        return response.json() if response.content else None


@pytest.fixture
async def platform(duty_db: str, bus: MemoryBus, tmp_path: Path) -> AsyncIterator[Platform]:
    settings = NotifySettings(
        bus="memory",
        database=DatabaseSettings(url=duty_db),
        outbox_poll_interval_s=0.05,
        sms_provider="file",
        sms_file=tmp_path / "sms.jsonl",
        dispatcher_poll_interval_s=0.2,
        # No grace: a shift already running with nobody checked in is missed at once.
        check_in_grace_min=0,
        check_in_watch_interval_s=0.2,
    )
    app = create_app(settings, bus=bus)
    async with app_client(app) as client:
        headers = {
            "admin": await account_bearer(
                app, settings.auth, "duty.admin", roles=("business_admin",)
            ),
            "gateway": await account_bearer(app, settings.auth, "sms.gateway", roles=("gateway",)),
        }
        for who, scope in (
            ("zhang.san", "town:lujiazui"),
            ("li.si", "town:lujiazui"),
            ("wang.leader", "town:lujiazui"),
            ("d.officer", "district"),
        ):
            headers[who] = await account_bearer(
                app, settings.auth, who, roles=("handler",), scope=scope
            )
        yield Platform(client, headers)


def local_today() -> str:
    return datetime.now(default_catalog().district.zone).date().isoformat()


def yesterday() -> str:
    zone = default_catalog().district.zone
    return (datetime.now(zone).date() - timedelta(days=1)).isoformat()


async def set_up_centers(p: Platform) -> None:
    await p.call(
        "admin",
        "POST",
        "/api/v1/duty-centers",
        expect=201,
        json={"duty_center_id": "district", "name": "Pudong duty center", "kind": "district"},
    )
    await p.call(
        "admin",
        "POST",
        "/api/v1/duty-centers",
        expect=201,
        json={
            "duty_center_id": "street-lujiazui",
            "name": "Lujiazui duty center",
            "kind": "street",
            "town_id": "lujiazui",
        },
    )
    for center, person, phone in (
        ("street-lujiazui", "zhang.san", "+8610000000301"),
        ("street-lujiazui", "li.si", "+8610000000302"),
        ("street-lujiazui", "wang.leader", "+8610000000303"),
        ("district", "d.officer", "+8610000000304"),
    ):
        await p.call(
            "admin",
            "PUT",
            f"/api/v1/duty-centers/{center}/members/{person}",
            json={"name": person.title(), "phone": phone},
        )
    center = await p.call(
        "admin", "PUT", "/api/v1/duty-centers/street-lujiazui", json={"leader_id": "wang.leader"}
    )
    assert center["leader_id"] == "wang.leader"


async def test_a_phone_is_one_persons(platform: Platform) -> None:
    p = platform
    await set_up_centers(p)
    taken = await p.client.put(
        "/api/v1/duty-centers/district/members/someone.else",
        json={"name": "Someone", "phone": "+8610000000301"},
        headers=p.headers["admin"],
    )
    assert taken.status_code == 409
    assert taken.json()["person_id"] == "zhang.san"
    # The same person at a second center keeps their phone.
    again = await p.call(
        "admin",
        "PUT",
        "/api/v1/duty-centers/district/members/zhang.san",
        json={"name": "Zhang San", "phone": "+8610000000301"},
    )
    assert again["phone"] == "+8610000000301"
    members = await p.call("admin", "GET", "/api/v1/duty-centers/district/members")
    assert {m["person_id"] for m in members} == {"d.officer", "zhang.san"}


ROBOT = "wecom:https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=9f3b7c1e-lujiazui"


async def stored_robot(duty_db: str, center: str) -> str | None:
    engine = create_async_engine(duty_db)
    try:
        async with engine.connect() as conn:
            query = text("SELECT robot_url FROM notify.duty_center WHERE duty_center_id = :c")
            value = await conn.scalar(query, {"c": center})
    finally:
        await engine.dispose()
    return None if value is None else str(value)


async def test_a_center_s_robot_is_checked_kept_whole_and_read_back_masked(
    platform: Platform, duty_db: str
) -> None:
    p = platform
    await set_up_centers(p)
    center = "/api/v1/duty-centers/street-lujiazui"
    put = await p.call("admin", "PUT", center, json={"robot_url": ROBOT})
    assert put["robot_url"] == "wecom:qyapi.weixin.qq.com"  # kind and host: the key is secret
    assert put["leader_id"] == "wang.leader"  # only what was given changed
    listed = await p.client.get("/api/v1/duty-centers", headers=p.headers["admin"])
    got = await p.client.get(center, headers=p.headers["zhang.san"])
    assert got.json()["robot_url"] == "wecom:qyapi.weixin.qq.com"
    assert "9f3b7c1e" not in listed.text + got.text
    assert await stored_robot(duty_db, "street-lujiazui") == ROBOT  # what the robot is sent to

    sector = await p.call(
        "admin",
        "POST",
        "/api/v1/duty-centers",
        expect=201,
        json={
            "duty_center_id": "sector-construction",
            "name": "Construction duty center",
            "kind": "sector",
            "sector_id": "construction",
            "robot_url": "dingtalk:https://oapi.dingtalk.com/robot/send?access_token=5a7d",
        },
    )
    assert sector["robot_url"] == "dingtalk:oapi.dingtalk.com"

    # Refused at input (422 problem), saying where and why, never repeating the URL.
    for bad in (
        "slack:https://hooks.slack.com/services/T0/B0/x1y2z3",  # neither WeCom nor DingTalk
        "wecom:http://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=x1y2z3",  # its key in clear
        "wecom:https://me:x1y2z3@qyapi.weixin.qq.com/cgi-bin/webhook/send",  # credentials
        "wecom:https://qyapi.weixin.qq.com/send?key=x1y2z3\nX-Forged: 1",  # two lines
        "wecom:https://qyapi.weixin.qq.com/send?key=x1y2z3" + "0" * 460,  # over 500 characters
    ):
        refused = await p.client.put(center, json={"robot_url": bad}, headers=p.headers["admin"])
        assert refused.status_code == 422, bad
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["errors"][0]["loc"] == ["body", "robot_url"]
        assert "x1y2z3" not in refused.text
    # A host notify would not post to: told at once, not at the first alarm.
    elsewhere = "wecom:https://hooks.example.org/cgi-bin/webhook/send?key=x1y2z3"
    refused = await p.client.put(center, json={"robot_url": elsewhere}, headers=p.headers["admin"])
    assert refused.status_code == 422
    assert refused.json()["detail"] == (
        "The robot's host 'hooks.example.org' is not among RW_ROBOT_ALLOWED_HOSTS "
        "(oapi.dingtalk.com, qyapi.weixin.qq.com); notify would not post to it."
    )
    assert await stored_robot(duty_db, "street-lujiazui") == ROBOT
    not_created = await p.client.post(
        "/api/v1/duty-centers",
        json={
            "duty_center_id": "street-huinan",
            "name": "Huinan duty center",
            "kind": "street",
            "town_id": "huinan",
            "robot_url": elsewhere,
        },
        headers=p.headers["admin"],
    )
    assert not_created.status_code == 422
    await p.call("admin", "GET", "/api/v1/duty-centers/street-huinan", expect=404)

    cleared = await p.call("admin", "PUT", center, json={"robot_url": None})
    assert cleared["robot_url"] is None
    assert await stored_robot(duty_db, "street-lujiazui") is None


async def test_a_member_s_e_mail_and_locale_are_theirs_in_every_center(platform: Platform) -> None:
    p = platform
    await set_up_centers(p)
    member = "/api/v1/duty-centers/street-lujiazui/members/zhang.san"
    zhang = {"name": "Zhang San", "phone": "+8610000000301"}
    put = await p.call(
        "admin", "PUT", member, json={**zhang, "email": "zhang.san@example.org", "locale": "en"}
    )
    assert (put["email"], put["locale"]) == ("zhang.san@example.org", "en")
    members = await p.call("admin", "GET", "/api/v1/duty-centers/street-lujiazui/members")
    by_id = {m["person_id"]: m for m in members}
    assert (by_id["zhang.san"]["email"], by_id["zhang.san"]["locale"]) == (
        "zhang.san@example.org",
        "en",
    )
    assert (by_id["li.si"]["email"], by_id["li.si"]["locale"]) == (None, "zh-CN")  # the default
    # Added to a second center without them: they stay as they are.
    second = await p.call(
        "admin", "PUT", "/api/v1/duty-centers/district/members/zhang.san", json=zhang
    )
    assert (second["email"], second["locale"]) == ("zhang.san@example.org", "en")
    # null clears the e-mail; the locale given stays until changed.
    cleared = await p.call("admin", "PUT", member, json={**zhang, "email": None})
    assert (cleared["email"], cleared["locale"]) == (None, "en")
    back = await p.call("admin", "PUT", member, json={**zhang, "locale": "zh-CN"})
    assert back["locale"] == "zh-CN"

    for field, bad in (
        ("email", "zhang.san"),
        ("email", "Zhang San <zhang.san@example.org>"),
        ("email", "zhang.san@example.org\r\nBcc: all@example.org"),
        ("email", "zhang san@example.org"),
        ("locale", "fr"),
        ("locale", "en-US"),
    ):
        refused = await p.client.put(member, json={**zhang, field: bad}, headers=p.headers["admin"])
        assert refused.status_code == 422, (field, bad)
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["errors"][0]["loc"] == ["body", field]
    # The phone is still one person's, whatever else they give.
    taken = await p.client.put(
        "/api/v1/duty-centers/district/members/someone.else",
        json={"name": "Someone", "phone": "+8610000000301", "email": "someone@example.org"},
        headers=p.headers["admin"],
    )
    assert taken.status_code == 409
    assert taken.json()["person_id"] == "zhang.san"


async def publish_week(p: Platform, center: str, rotation: list[str]) -> dict[str, Any]:
    draft = await p.call(
        "admin",
        "POST",
        f"/api/v1/duty-centers/{center}/rosters",
        expect=201,
        json={
            "first_day": yesterday(),
            "days": 8,
            "templates": DAY_NIGHT,
            "rotation": rotation,
        },
    )
    assert draft["status"] == "draft"
    assert len(draft["shifts"]) == 16
    # Midnight to the first shift (08:30) is before the roster: no gap of it.
    assert draft["problems"] == []
    published: dict[str, Any] = await p.call(
        "admin", "POST", f"/api/v1/rosters/{draft['roster_id']}/publish"
    )
    assert (published["status"], published["version"]) == ("published", 1)
    return published


async def test_issue_8_done_when(platform: Platform, bus: MemoryBus) -> None:
    p = platform
    await set_up_centers(p)
    roster = await publish_week(p, "street-lujiazui", ["zhang.san", "li.si"])
    district = await publish_week(p, "district", ["d.officer"])

    # Each member has a notification of their shifts, in the app and by SMS.
    for member in ("zhang.san", "li.si"):
        mine = await p.call(
            member, "GET", "/api/v1/notifications", params={"person_id": "me", "topic": "roster"}
        )
        assert sorted(n["channel"] for n in mine["items"]) == ["in_app", "sms"]
        text = mine["items"][0]["message"]
        assert "Lujiazui duty center" in text
        assert "报到" in text
        their_shifts = [s for s in roster["shifts"] if s["person_id"] == member]
        assert len(their_shifts) == 8
        first_local = datetime.fromisoformat(their_shifts[0]["starts_at"]).astimezone(
            default_catalog().district.zone
        )
        assert f"{first_local:%m-%d %H:%M}" in text
    published = [decode(m.headers, m.value).data for m in bus.records(DUTY)]
    rosters = [
        (e.roster_id, e.version, len(e.shifts)) for e in published if isinstance(e, RosterPublished)
    ]
    assert sorted(rosters) == sorted([(roster["roster_id"], 1, 16), (district["roster_id"], 1, 16)])

    # A shift runs with nobody checked in: with no grace, the watch finds it missed. The
    # district officer checks in, so only Lujiazui is missed.
    await p.call("d.officer", "POST", "/api/v1/duty/check-in", json={})
    on_duty = await p.call("admin", "GET", "/api/v1/duty-centers/street-lujiazui/on-duty")
    assert on_duty["attendance"] == "missed"
    assert on_duty["people"][0]["checked_in_at"] is None
    on_shift = on_duty["people"][0]["person_id"]

    async def leader_told() -> list[dict[str, Any]]:
        told = await p.call(
            "wang.leader",
            "GET",
            "/api/v1/notifications",
            params={"person_id": "me", "topic": "check_in"},
        )
        items: list[dict[str, Any]] = told["items"]
        return items

    told = await eventually(leader_told)
    assert "Lujiazui duty center" in told[0]["message"]
    assert "无人报到" in told[0]["message"]  # zh-CN, the default locale
    alerts = await p.call("admin", "GET", "/api/v1/duty-alerts", params={"open": "true"})
    assert [(a["kind"], a["duty_center_id"]) for a in alerts["items"]] == [
        ("missed_check_in", "street-lujiazui")
    ]

    # An alarm for that town now also reaches the next level up, and the preview says why.
    preview = await p.call(
        "admin",
        "GET",
        "/api/v1/routing/preview",
        params={"sector_id": "construction", "town_id": "lujiazui", "level": "yellow"},
    )
    assert [(c["duty_center_id"], c["fallback_for"]) for c in preview["centers"]] == [
        ("street-lujiazui", None),
        ("district", "street-lujiazui"),
    ]
    assert "nobody checked in" in preview["centers"][1]["reason"]
    alarm = f.alarm(Level.YELLOW)
    await bus.publish([record_for(ALARMS, f.raised(alarm))])

    async def notified() -> set[tuple[str, str]] | None:
        rows = await p.call(
            "admin", "GET", "/api/v1/notifications", params={"alarm_id": alarm.alarm_id}
        )
        found = {(n["person_id"], n["duty_center_id"]) for n in rows["items"]}
        return found if len(found) >= 2 else None

    assert await eventually(notified) == {(on_shift, "street-lujiazui"), ("d.officer", "district")}
    # Someone is on duty there, only not checked in: the missed check-in is the one alert.
    alerts = await p.call("admin", "GET", "/api/v1/duty-alerts", params={"open": "true"})
    assert [a["kind"] for a in alerts["items"]] == ["missed_check_in"]

    # The person on shift checks in: the on-duty view shows who and when; the alert closes.
    check_in = await p.call(on_shift, "POST", "/api/v1/duty/check-in", json={})
    assert (check_in["person_id"], check_in["via"], check_in["late"]) == (on_shift, "api", True)
    again = await p.call(on_shift, "POST", "/api/v1/duty/check-in", json={})
    assert again["checked_in_at"] == check_in["checked_in_at"]
    on_duty = await p.call("admin", "GET", "/api/v1/duty-centers/street-lujiazui/on-duty")
    assert on_duty["attendance"] == "attended"
    assert on_duty["people"][0]["checked_in_at"] == check_in["checked_in_at"]
    still_open = await p.call("admin", "GET", "/api/v1/duty-alerts", params={"open": "true"})
    assert still_open["items"] == []
    checked = [
        e
        for e in (decode(m.headers, m.value).data for m in bus.records(DUTY))
        if isinstance(e, DutyCheckedIn)
    ]
    assert {(e.person_id, e.via) for e in checked} == {("d.officer", "api"), (on_shift, "api")}
    # With the street center attended, the district is no longer in the preview.
    preview = await p.call(
        "admin",
        "GET",
        "/api/v1/routing/preview",
        params={"sector_id": "construction", "town_id": "lujiazui", "level": "yellow"},
    )
    assert [c["duty_center_id"] for c in preview["centers"]] == ["street-lujiazui"]


async def test_check_in_by_sms_reply(platform: Platform, bus: MemoryBus) -> None:
    p = platform
    await set_up_centers(p)
    await publish_week(p, "district", ["d.officer"])
    reply = {"message_id": "m-1", "from": "+8610000000304", "text": " 报到 "}
    answer = await p.call("gateway", "POST", "/api/v1/sms/inbound", json=reply)
    assert (answer["understood"], answer["outcome"]) == (True, "checked in")
    assert answer["check_in"]["via"] == "sms"
    again = await p.call(
        "gateway", "POST", "/api/v1/sms/inbound", json={**reply, "message_id": "m-2"}
    )
    assert again["check_in"]["checked_in_at"] == answer["check_in"]["checked_in_at"]
    other = await p.call(
        "gateway",
        "POST",
        "/api/v1/sms/inbound",
        json={**reply, "text": "hello", "message_id": "m-3"},
    )
    assert other["understood"] is False
    stranger = await p.call(
        "gateway",
        "POST",
        "/api/v1/sms/inbound",
        json={**reply, "from": "+8610000000999", "message_id": "m-4"},
    )
    assert stranger["check_in"] is None
    assert "not one person" in stranger["outcome"]
    off_shift = await p.call(
        "gateway",
        "POST",
        "/api/v1/sms/inbound",
        json={**reply, "from": "+8610000000301", "message_id": "m-5"},
    )
    assert off_shift["check_in"] is None
    assert "no published shift" in off_shift["outcome"]
    # Only the provider's account may post replies.
    refused = await p.client.post("/api/v1/sms/inbound", json=reply, headers=p.headers["d.officer"])
    assert refused.status_code == 403


async def test_publication_is_refused_while_a_problem_remains(platform: Platform) -> None:
    p = platform
    await set_up_centers(p)
    await publish_week(p, "district", ["d.officer"])
    draft = await p.call(
        "admin",
        "POST",
        "/api/v1/duty-centers/street-lujiazui/rosters",
        expect=201,
        json={
            "first_day": local_today(),
            "days": 2,
            "templates": [{"name": "day", "start": "08:30", "end": "17:30"}],
            # d.officer is the district's, on duty there at the same time.
            "rotation": ["zhang.san", "d.officer"],
        },
    )
    kinds = {pr["kind"] for pr in draft["problems"]}
    assert kinds == {"gap", "not_a_member", "two_centers"}
    two = next(pr for pr in draft["problems"] if pr["kind"] == "two_centers")
    assert (two["person_id"], two["other_duty_center_id"]) == ("d.officer", "district")
    unknown = await p.client.post(
        "/api/v1/duty-centers/street-lujiazui/rosters",
        json={
            "first_day": local_today(),
            "days": 1,
            "templates": DAY_NIGHT,
            "rotation": ["nobody.here"],
        },
        headers=p.headers["admin"],
    )
    assert unknown.status_code == 422
    assert unknown.json()["unknown_people"] == ["nobody.here"]
    refused = await p.client.post(
        f"/api/v1/rosters/{draft['roster_id']}/publish", headers=p.headers["admin"]
    )
    assert refused.status_code == 409
    body = refused.json()
    assert body["title"]
    assert {pr["kind"] for pr in body["problems"]} == kinds
    gap = next(pr for pr in body["problems"] if pr["kind"] == "gap")
    assert gap["starts_at"]
    assert gap["ends_at"]
    assert gap["minutes"] > 0
    # A member cannot manage rosters.
    denied = await p.client.post(
        f"/api/v1/rosters/{draft['roster_id']}/publish", headers=p.headers["zhang.san"]
    )
    assert denied.status_code == 403


async def test_a_swap_approved_by_the_leader_republishes_and_tells_the_people(
    platform: Platform, bus: MemoryBus
) -> None:
    p = platform
    await set_up_centers(p)
    roster = await publish_week(p, "street-lujiazui", ["zhang.san", "li.si"])
    now = datetime.now(UTC)
    later = next(
        s
        for s in roster["shifts"]
        if s["person_id"] == "zhang.san" and datetime.fromisoformat(s["starts_at"]) > now
    )
    # li.si is on the shift right after: taking zhang.san's would not overlap it.
    swap = await p.call(
        "zhang.san",
        "POST",
        "/api/v1/swaps",
        expect=201,
        json={"shift_id": later["shift_id"], "to_person_id": "li.si", "reason": "family"},
    )
    # Only the leader decides.
    refused = await p.client.post(
        f"/api/v1/swaps/{swap['swap_id']}/decision",
        json={"approve": True},
        headers=p.headers["li.si"],
    )
    assert refused.status_code == 403
    decided = await p.call(
        "wang.leader", "POST", f"/api/v1/swaps/{swap['swap_id']}/decision", json={"approve": True}
    )
    assert decided["status"] == "approved"
    again = await p.call("admin", "GET", f"/api/v1/rosters/{roster['roster_id']}")
    assert again["version"] == 2
    moved = next(s for s in again["shifts"] if s["shift_id"] == later["shift_id"])
    assert moved["person_id"] == "li.si"
    versions = [
        e.version
        for e in (decode(m.headers, m.value).data for m in bus.records(DUTY))
        if isinstance(e, RosterPublished) and e.roster_id == roster["roster_id"]
    ]
    assert versions == [1, 2]
    told = await p.call(
        "li.si", "GET", "/api/v1/notifications", params={"person_id": "me", "topic": "roster"}
    )
    assert len(told["items"]) == 4  # two publications, two channels
    assert any("排班已更新发布" in n["message"] for n in told["items"])  # published again


async def test_routing_is_versioned_data(platform: Platform) -> None:
    p = platform
    await set_up_centers(p)
    default = await p.call("admin", "GET", "/api/v1/routing")
    assert default["version"] == 0
    assert len(default["rules"]) == 2
    rules = [
        {
            "name": "everything-to-the-district",
            "targets": [{"kind": "center", "duty_center_id": "district"}],
        }
    ]
    put = await p.call("admin", "PUT", "/api/v1/routing", json={"rules": rules, "note": "test"})
    assert put["version"] == 1
    assert (await p.call("admin", "GET", "/api/v1/routing"))["version"] == 1
    versions = await p.call("admin", "GET", "/api/v1/routing/versions")
    assert [v["version"] for v in versions["items"]] == [1]
    preview = await p.call(
        "admin",
        "GET",
        "/api/v1/routing/preview",
        params={"sector_id": "construction", "town_id": "lujiazui", "level": "blue"},
    )
    assert preview["routing_version"] == 1
    assert [c["duty_center_id"] for c in preview["centers"]] == ["district"]
    assert preview["reaches_nobody"] is True  # no roster published in this test
    bad = await p.client.put(
        "/api/v1/routing",
        json={"rules": [{"name": "x", "targets": [{"kind": "center"}]}]},
        headers=p.headers["admin"],
    )
    assert bad.status_code == 422
    denied = await p.client.put(
        "/api/v1/routing", json={"rules": rules}, headers=p.headers["zhang.san"]
    )
    assert denied.status_code == 403


# -- DutyCenterChanged --------------------------------------------------------------------------


async def center_changes(duty_db: str, center: str) -> list[DutyCenterChanged]:
    """The DutyCenterChanged events staged for the center, in order."""
    engine = create_async_engine(duty_db)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT topic, headers, value FROM notify.outbox WHERE key = :c"
                    " AND headers->>'ce_type' = :t ORDER BY id"
                ),
                {"c": center, "t": DutyCenterChanged.event_type},
            )
            found = rows.all()
    finally:
        await engine.dispose()
    out: list[DutyCenterChanged] = []
    for topic, headers, value in found:
        assert topic == DUTY
        data = decode([(k, str(v).encode()) for k, v in headers.items()], value).data
        assert isinstance(data, DutyCenterChanged)
        out.append(data)
    return out


async def test_every_change_of_a_center_its_members_or_leader_stages_one_event(
    platform: Platform, duty_db: str
) -> None:
    p = platform
    center = "/api/v1/duty-centers/street-lujiazui"

    async def last(expected: int) -> tuple[list[str], str | None, bool]:
        events = await center_changes(duty_db, "street-lujiazui")
        assert len(events) == expected
        e = events[-1]
        return e.member_ids, e.leader_id, e.active

    await set_up_centers(p)  # create, three members, the leader
    assert await last(5) == (["li.si", "wang.leader", "zhang.san"], "wang.leader", True)
    district = await center_changes(duty_db, "district")  # created, then d.officer added
    assert [(e.name, e.member_ids) for e in district] == [
        ("Pudong duty center", []),
        ("Pudong duty center", ["d.officer"]),
    ]

    await p.call("admin", "PUT", center, json={"name": "Lujiazui street duty center"})
    assert await last(6) == (["li.si", "wang.leader", "zhang.san"], "wang.leader", True)
    assert (await center_changes(duty_db, "street-lujiazui"))[-1].name == (
        "Lujiazui street duty center"
    )
    await p.call("admin", "PUT", center, json={"leader_id": "li.si"})
    assert await last(7) == (["li.si", "wang.leader", "zhang.san"], "li.si", True)
    await p.call("admin", "DELETE", f"{center}/members/wang.leader", expect=204)
    assert await last(8) == (["li.si", "zhang.san"], "li.si", True)
    # A refused change stages nothing.
    await p.call("admin", "PUT", center, json={"leader_id": "nobody"}, expect=422)
    await p.call("admin", "DELETE", "/api/v1/duty-centers/district", expect=409)
    assert len(await center_changes(duty_db, "street-lujiazui")) == 8
    assert len(await center_changes(duty_db, "district")) == 2
    # Removed: no members, no leader, not active.
    await p.call("admin", "DELETE", center, expect=204)
    assert await last(9) == ([], None, False)
    await p.call("admin", "GET", center, expect=404)
