"""The duty import on real PostgreSQL: a second run changes nothing and tells nobody twice, a
refused center is rolled back alone, and the demo seeded every few hours never runs out of
people on duty. A center's robot and a member's e-mail and locale are imported like the rest,
and reach a red alarm's first step. Also the endpoint, in-process."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common.catalog import default_catalog
from riskwatch.common.events import Level, decode
from riskwatch.common.events.duty import DutyCenterChanged
from riskwatch.common.events.topics import DUTY
from riskwatch.common.settings import AuthSettings, DatabaseSettings
from riskwatch.common.testing import account_bearer, app_client, migrate
from riskwatch.notify.app import create_app
from riskwatch.notify.duty.domain import Attendance
from riskwatch.notify.duty.importer import (
    CenterEntry,
    CenterOutcome,
    apply_center,
    demo_entries,
    read_document,
    seed_demo,
)
from riskwatch.notify.duty.models import DutyCenter, DutyMember, Person, Roster, Shift
from riskwatch.notify.duty.service import staffing_at
from riskwatch.notify.models import outbox
from riskwatch.notify.module import MIGRATIONS
from riskwatch.notify.notifications.domain import CHANNELS, Topic
from riskwatch.notify.notifications.models import Notification
from riskwatch.notify.settings import NotifySettings

from .. import factories as f

CATALOG = default_catalog()
TZ = CATALOG.district.zone
NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 09:00 on 1 December in Shanghai
DAY_NIGHT = [
    {"name": "day", "start": "08:30", "end": "17:30"},
    {"name": "night", "start": "17:30", "end": "08:30"},
]
GRACE = timedelta(minutes=15)


ROBOT_HOSTS = ("qyapi.weixin.qq.com", "oapi.dingtalk.com")
ROBOT = "wecom:https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=5e3c9a17-district"


def person(person_id: str, phone: str, **contact: str | None) -> dict[str, Any]:
    return {
        "person_id": person_id,
        "name": person_id.replace(".", " ").title(),
        "phone": phone,
        **contact,
    }


def district(**fields: Any) -> dict[str, Any]:
    return {
        "id": "district",
        "name": "Pudong New Area duty center",
        "kind": "district",
        "leader": "zhang.wei",
        "members": [
            person("operator", "+8610000000001"),
            person("zhang.wei", "+8610000000101"),
            person("li.na", "+8610000000102"),
        ],
        "roster": {"rotation": ["operator", "zhang.wei", "operator", "li.na"]},
        **fields,
    }


def street(town_id: str, *people: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "id": f"street-{town_id}",
        "name": f"{town_id.title()} duty center",
        "kind": "street",
        "town_id": town_id,
        "fallback_id": "district",
        "members": list(people),
        "roster": "default",
        **fields,
    }


def entries(*centers: dict[str, Any], first_day: str = "2026-12-01") -> list[CenterEntry]:
    parsed = read_document(
        {
            "roster_defaults": {"templates": DAY_NIGHT, "first_day": first_day, "days": 7},
            "centers": list(centers),
        }
    )
    assert all(p.entry for p in parsed), [p.error for p in parsed]
    return [p.entry for p in parsed if p.entry is not None]


async def apply_all(
    session: AsyncSession,
    centers: Sequence[CenterEntry],
    now: datetime = NOW,
    robot_hosts: Sequence[str] = ROBOT_HOSTS,
) -> list[CenterOutcome]:
    return [
        await apply_center(
            session,
            catalog=CATALOG,
            entry=e,
            by="importer",
            now=now,
            tz=TZ,
            robot_hosts=robot_hosts,
        )
        for e in centers
    ]


async def counts(session: AsyncSession) -> dict[str, int]:
    tables: dict[str, Any] = {
        "centers": DutyCenter,
        "people": Person,
        "members": DutyMember,
        "rosters": Roster,
        "shifts": Shift,
        "notifications": Notification,
        "outbox": outbox.table,
    }
    return {
        name: await session.scalar(select(func.count()).select_from(table)) or 0
        for name, table in tables.items()
    }


async def roster_notices(session: AsyncSession) -> Counter[tuple[str, str]]:
    """(person, roster notice key) -> how many notifications, over every channel."""
    rows = await session.execute(
        select(Notification.person_id, Notification.idempotency_key).where(
            Notification.topic == Topic.ROSTER.value
        )
    )
    return Counter((p, key.split(":v")[0]) for p, key in rows)


async def test_applying_the_same_document_twice_changes_nothing_and_tells_nobody_twice(
    session: AsyncSession,
) -> None:
    document = entries(
        district(),
        street(
            "lujiazui", person("he.ping", "+8610000000301"), person("lin.yan", "+8610000000302")
        ),
    )
    first = await apply_all(session, document)
    assert [(o.status, o.roster, o.members_added) for o in first] == [
        ("created", "published", 3),
        ("created", "published", 2),
    ]
    assert first[0].roster_id == "district-20261201-7d"
    assert (first[0].people_notified, first[0].notifications) == (3, 3 * len(CHANNELS))
    center = await session.get(DutyCenter, "street-lujiazui")
    assert center is not None
    assert center.fallback_id == "district"
    assert center.leader_id is None
    district_center = await session.get(DutyCenter, "district")
    assert district_center is not None
    assert district_center.leader_id == "zhang.wei"
    # Each person on a roster is told their shifts once, on every channel.
    notices = await roster_notices(session)
    assert notices == {
        (p, f"roster:{roster}"): len(CHANNELS)
        for roster, people in (
            ("district-20261201-7d", ("operator", "zhang.wei", "li.na")),
            ("street-lujiazui-20261201-7d", ("he.ping", "lin.yan")),
        )
        for p in people
    }
    before = await counts(session)

    again = await apply_all(session, document, now=NOW + timedelta(hours=6))
    assert [(o.status, o.roster, o.roster_id, o.notifications) for o in again] == [
        ("unchanged", "kept", "district-20261201-7d", 0),
        ("unchanged", "kept", "street-lujiazui-20261201-7d", 0),
    ]
    assert await counts(session) == before
    # Nobody's off duty at any moment of the roster's week after its first shift.
    at = datetime(2026, 12, 1, 8, 30, tzinfo=TZ)
    while at < datetime(2026, 12, 8, 8, 30, tzinfo=TZ):
        staffing = await staffing_at(session, duty_center_ids=["district"], at=at, grace=GRACE)
        assert len(staffing["district"].people) == 1, at
        at += timedelta(minutes=30)


async def center_events(session: AsyncSession) -> list[DutyCenterChanged]:
    """The DutyCenterChanged events staged so far, in order."""
    t = outbox.table
    rows = await session.execute(
        select(t.c.topic, t.c.key, t.c.headers, t.c.value)
        .where(t.c.headers["ce_type"].astext == DutyCenterChanged.event_type)
        .order_by(t.c.id)
    )
    out: list[DutyCenterChanged] = []
    for topic, key, headers, value in rows:
        data = decode([(k, str(v).encode()) for k, v in headers.items()], value).data
        assert isinstance(data, DutyCenterChanged)
        assert (topic, key) == (DUTY, data.duty_center_id)
        out.append(data)
    return out


async def test_an_import_announces_each_center_it_changes_once_with_its_members(
    session: AsyncSession,
) -> None:
    document = entries(
        district(),
        street(
            "lujiazui", person("he.ping", "+8610000000301"), person("lin.yan", "+8610000000302")
        ),
    )
    await apply_all(session, document)
    events = await center_events(session)
    assert [(e.duty_center_id, e.member_ids, e.leader_id, e.active) for e in events] == [
        ("district", ["li.na", "operator", "zhang.wei"], "zhang.wei", True),
        ("street-lujiazui", ["he.ping", "lin.yan"], None, True),
    ]
    assert {e.changed_at for e in events} == {NOW}
    # The same document again changes nothing and announces nothing.
    await apply_all(session, document, now=NOW + timedelta(hours=6))
    assert len(await center_events(session)) == 2
    # A member added: the street center again, with everyone.
    changed = entries(
        district(),
        street(
            "lujiazui",
            person("he.ping", "+8610000000301"),
            person("lin.yan", "+8610000000302"),
            person("xu.bo", "+8610000000303"),
        ),
    )
    await apply_all(session, changed, now=NOW + timedelta(hours=7))
    latest = (await center_events(session))[2:]
    assert [(e.duty_center_id, e.member_ids) for e in latest] == [
        ("street-lujiazui", ["he.ping", "lin.yan", "xu.bo"])
    ]


async def test_the_demo_seed_announces_every_center_it_creates(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    outcomes = await seed_demo(sessions, CATALOG, NOW)
    async with sessions() as session:
        events = await center_events(session)
    assert sorted(e.duty_center_id for e in events) == sorted(
        o.duty_center_id for o in outcomes if o.status == "created"
    )
    assert len(events) == len(outcomes)


async def test_a_refused_center_is_rolled_back_alone_and_says_why(session: AsyncSession) -> None:
    await apply_all(session, entries(district()))
    document = entries(
        street(
            "lujiazui", person("he.ping", "+8610000000301"), person("lin.yan", "+8610000000302")
        ),
        street("atlantis", person("nemo", "+8610000000901")),
        # Zhang Wei is on duty at the district already: the same shifts here are refused.
        street(
            "zhangjiang",
            person("luo.gang", "+8610000000311"),
            person("zhang.wei", "+8610000000101"),
            leader="luo.gang",
        ),
        street("chuansha", person("zheng.hao", "+8610000000321")),
        {**district(), "kind": "street", "town_id": "huinan"},  # exists as another kind
    )
    outcomes = {o.duty_center_id: o for o in await apply_all(session, document)}
    assert {k: o.status for k, o in outcomes.items()} == {
        "street-lujiazui": "created",
        "street-atlantis": "failed",
        "street-zhangjiang": "failed",
        "street-chuansha": "created",
        "district": "failed",
    }
    assert outcomes["street-atlantis"].reason == "No town 'atlantis' in the catalog."
    reason = outcomes["street-zhangjiang"].reason or ""
    assert "problem(s)" in reason
    assert "two_centers" in reason
    assert "zhang.wei" in reason
    assert "exists as a district center" in (outcomes["district"].reason or "")
    # Nothing of the refused centers stays; the others are whole.
    assert await session.get(DutyCenter, "street-zhangjiang") is None
    assert await session.get(Person, "luo.gang") is None
    assert await session.get(Person, "nemo") is None
    assert await session.get(DutyMember, ("street-zhangjiang", "zhang.wei")) is None
    chuansha = await staffing_at(
        session, duty_center_ids=["street-chuansha"], at=NOW + timedelta(days=1), grace=GRACE
    )
    assert [p.person_id for p in chuansha["street-chuansha"].people] == ["zheng.hao"]
    district_center = await session.get(DutyCenter, "district")
    assert district_center is not None
    assert district_center.name == "Pudong New Area duty center"


async def test_a_changed_document_updates_what_differs_and_keeps_the_roster(
    session: AsyncSession,
) -> None:
    await apply_all(session, entries(district()))
    changed = district(
        name="District duty center",
        leader="li.na",
        members=[
            person("operator", "+8610000000001"),
            person("zhang.wei", "+8610000000111"),  # a new phone
            person("li.na", "+8610000000102"),
            person("wang.fang", "+8610000000201"),  # a new member
        ],
    )
    [outcome] = await apply_all(session, entries(changed))
    assert (outcome.status, outcome.changed) == ("updated", ["name", "leader_id"])
    assert (outcome.members_added, outcome.members_updated) == (1, 1)
    assert (outcome.roster, outcome.roster_id) == ("kept", "district-20261201-7d")
    zhang = await session.get(Person, "zhang.wei")
    assert zhang is not None
    assert zhang.phone == "+8610000000111"
    # A phone that is someone else's is refused: SMS replies could not tell them apart.
    clash = street("lujiazui", person("imposter", "+8610000000102"))
    [refused] = await apply_all(session, entries(clash))
    assert refused.status == "failed"
    assert refused.reason == (
        "imposter's phone is li.na's already; SMS replies could not tell them apart."
    )


async def fresh(session: AsyncSession, model: type[Any], key: Any) -> Any:
    """A row as the database has it now (put_member writes people with a core statement)."""
    row = await session.get(model, key, populate_existing=True)
    assert row is not None, key
    return row


async def test_a_robot_an_e_mail_and_a_locale_are_imported_and_the_same_again_change_nothing(
    session: AsyncSession,
) -> None:
    members = [
        person("operator", "+8610000000001", email="operator@example.org", locale="en"),
        person("zhang.wei", "+8610000000101"),
        person("li.na", "+8610000000102"),
    ]
    document = entries(district(robot_url=ROBOT, members=members))
    [created] = await apply_all(session, document)
    assert created.status == "created"
    assert (await fresh(session, DutyCenter, "district")).robot_url == ROBOT
    operator = await fresh(session, Person, "operator")
    assert (operator.email, operator.locale) == ("operator@example.org", "en")
    zhang = await fresh(session, Person, "zhang.wei")
    assert (zhang.email, zhang.locale) == (None, "zh-CN")  # none given: none, and the default
    before = await counts(session)

    [again] = await apply_all(session, document, now=NOW + timedelta(hours=6))
    assert (again.status, again.changed, again.members_updated) == ("unchanged", [], 0)
    assert await counts(session) == before
    # A document that does not mention them leaves them as they are.
    [silent] = await apply_all(session, entries(district()))
    assert (silent.status, silent.changed, silent.members_updated) == ("unchanged", [], 0)
    assert (await fresh(session, DutyCenter, "district")).robot_url == ROBOT
    assert (await fresh(session, Person, "operator")).email == "operator@example.org"

    # Another key for the robot, the operator's e-mail cleared and back to Chinese.
    new_key = ROBOT.replace("5e3c9a17", "0b41d2e8")
    changed = district(
        robot_url=new_key,
        members=[person("operator", "+8610000000001", email=None, locale="zh-CN"), *members[1:]],
    )
    [updated] = await apply_all(session, entries(changed))
    assert (updated.status, updated.changed, updated.members_updated) == (
        "updated",
        ["robot_url"],
        1,
    )
    assert (await fresh(session, DutyCenter, "district")).robot_url == new_key
    operator = await fresh(session, Person, "operator")
    assert (operator.email, operator.locale) == (None, "zh-CN")
    # null: the center has no robot any more.
    [cleared] = await apply_all(session, entries(district(robot_url=None)))
    assert (cleared.status, cleared.changed) == ("updated", ["robot_url"])
    assert (await fresh(session, DutyCenter, "district")).robot_url is None


async def test_a_robot_host_not_allowed_refuses_its_center_alone(session: AsyncSession) -> None:
    elsewhere = "dingtalk:https://hooks.example.org/robot/send?access_token=6d1f0c"
    document = entries(
        district(),
        street("lujiazui", person("he.ping", "+8610000000301"), robot_url=elsewhere),
        street("huinan", person("zheng.hao", "+8610000000321"), robot_url=ROBOT),
    )
    outcomes = {o.duty_center_id: o for o in await apply_all(session, document)}
    assert {k: o.status for k, o in outcomes.items()} == {
        "district": "created",
        "street-lujiazui": "failed",
        "street-huinan": "created",
    }
    assert outcomes["street-lujiazui"].reason == (
        "The robot's host 'hooks.example.org' is not among RW_ROBOT_ALLOWED_HOSTS "
        "(oapi.dingtalk.com, qyapi.weixin.qq.com); notify would not post to it."
    )
    assert await session.get(DutyCenter, "street-lujiazui") is None
    assert await session.get(Person, "he.ping") is None
    # An existing center keeps its robot when a new one is refused; so does a deployment that
    # allows no robot host at all.
    [refused] = await apply_all(session, entries(district(robot_url=elsewhere)))
    assert refused.status == "failed"
    assert "hooks.example.org" in (refused.reason or "")
    [none_allowed] = await apply_all(
        session,
        entries(street("huinan", person("zheng.hao", "+8610000000321"), robot_url=ROBOT)),
        robot_hosts=(),
    )
    assert (none_allowed.status, none_allowed.changed) == ("unchanged", [])  # the same robot
    [other] = await apply_all(
        session,
        entries(street("huinan", person("zheng.hao", "+8610000000321"), robot_url=elsewhere)),
        robot_hosts=(),
    )
    assert other.status == "failed"
    assert "RW_ROBOT_ALLOWED_HOSTS (none)" in (other.reason or "")
    assert (await fresh(session, DutyCenter, "street-huinan")).robot_url == ROBOT


async def test_an_imported_robot_and_locale_reach_a_red_alarm_s_first_step(
    session: AsyncSession,
) -> None:
    """End to end: the center's robot gets the first step's webhook notice, at its full URL;
    the member whose locale is "en" gets the English SMS, the others the Chinese one."""
    street_robot = "dingtalk:https://oapi.dingtalk.com/robot/send?access_token=7c2e94a0b1"
    members = [
        person("operator", "+8610000000001", locale="en"),
        person("zhang.wei", "+8610000000101"),
        person("li.na", "+8610000000102"),
    ]
    document = entries(
        district(robot_url=ROBOT, members=members),
        street(
            "lujiazui",
            person("he.ping", "+8610000000301"),
            person("lin.yan", "+8610000000302"),
            robot_url=street_robot,
        ),
    )
    assert {o.status for o in await apply_all(session, document)} == {"created"}
    alarm = f.alarm(Level.RED)  # a gas well in Lujiazui
    # 10:00 in Shanghai on the roster's first day: the day shifts, the operator at the district
    # and He Ping at Lujiazui.
    plan = await f.first_step(session, alarm=alarm, now=NOW + timedelta(hours=1))
    assert plan.recipients
    rows = list(
        await session.scalars(select(Notification).where(Notification.alarm_id == alarm.alarm_id))
    )
    robots = {
        (n.person_id, n.recipient, n.duty_center_id, n.step) for n in rows if n.channel == "webhook"
    }
    assert robots == {
        ("robot:district", ROBOT, "district", 0),
        ("robot:street-lujiazui", street_robot, "street-lujiazui", 0),
    }
    sms = {n.person_id: n for n in rows if n.channel == "sms"}
    assert set(sms) == {"operator", "he.ping"}
    assert sms["operator"].locale == "en"
    assert sms["operator"].message.startswith("[RiskWatch] red alarm: ")
    assert sms["he.ping"].locale == "zh-CN"
    assert sms["he.ping"].message.startswith("【RiskWatch】红色预警")


async def test_a_relative_roster_on_a_later_day_publishes_only_the_new_days(
    session: AsyncSession,
) -> None:
    document = entries(district(), first_day="today-1")
    [first] = await apply_all(session, document)
    assert (first.roster_id, first.roster_first_day, first.roster_days) == (
        "district-20261130-7d",
        datetime(2026, 11, 30).date(),
        7,
    )
    [later] = await apply_all(session, document, now=NOW + timedelta(days=3))
    # Asked: 3 Dec for 7 days; published up to 7 Dec already: the 7th to the 9th are new.
    assert (later.status, later.roster, later.roster_id) == (
        "updated",
        "published",
        "district-20261207-3d",
    )
    # The turns go on: nights alternate between Zhang Wei and Li Na across the two rosters.
    nights = [
        s.person_id
        for s in await session.scalars(
            select(Shift)
            .where(Shift.duty_center_id == "district", Shift.template == "night")
            .order_by(Shift.starts_at)
        )
    ]
    assert nights == ["zhang.wei", "li.na"] * 5


async def test_the_demo_seeded_every_few_hours_is_always_staffed(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    day = datetime(2026, 11, 1, 19, 30, tzinfo=UTC)  # 03:30 on 2 November in Shanghai
    first = await seed_demo(sessions, CATALOG, day)
    # Every sector and town of the catalog has a center; the file's are staffed.
    assert len(first) == 1 + len(CATALOG.sectors) + len(CATALOG.towns)
    assert len(demo_entries()) == 1 + len(CATALOG.sectors) + 4
    staffed = {e.id for e in demo_entries()}
    assert {(o.status, o.roster) for o in first if o.duty_center_id in staffed} == {
        ("created", "published")
    }
    empty = [o for o in first if o.duty_center_id not in staffed]
    assert {(o.status, o.roster, o.members_added) for o in empty} == {("created", "none", 0)}
    assert "street-gaoqiao" in {o.duty_center_id for o in empty}
    assert {o.roster_id for o in first if o.duty_center_id == "district"} == {
        "district-20261101-9d"
    }
    again = await seed_demo(sessions, CATALOG, day + timedelta(hours=6))
    assert {
        (o.status, o.roster, o.notifications) for o in again if o.duty_center_id in staffed
    } == {("unchanged", "kept", 0)}
    async with sessions() as session:
        told_once = await roster_notices(session)
    assert set(told_once.values()) == {len(CHANNELS)}
    assert ("operator", "roster:district-20261101-9d") in told_once
    assert ("handler.lujiazui", "roster:street-lujiazui-20261101-9d") in told_once

    later = day + timedelta(days=2)
    second = await seed_demo(sessions, CATALOG, later)
    assert {(o.status, o.roster) for o in second if o.duty_center_id in staffed} == {
        ("updated", "published")
    }
    assert {o.roster_id for o in second if o.duty_center_id == "district"} == {
        "district-20261110-2d"
    }
    await seed_demo(sessions, CATALOG, later + timedelta(hours=6))
    async with sessions() as session:
        notices = await roster_notices(session)
        # Once per person and roster, on every channel; the new days told once more.
        assert set(notices.values()) == {len(CHANNELS)}
        assert len(notices) == 2 * len(told_once)
        # Someone on duty at the district at every moment from the day of the second seed
        # to a week after it, one person at a time.
        start = later.astimezone(TZ).replace(hour=0, minute=0)
        at = start
        while at <= start + timedelta(days=7):
            staffing = await staffing_at(session, duty_center_ids=None, at=at, grace=GRACE)
            assert len(staffing["district"].people) == 1, at
            unstaffed = [
                c
                for c, s in staffing.items()
                if s.attendance is Attendance.UNSTAFFED and c in staffed
            ]
            assert unstaffed == [], at
            at += timedelta(minutes=30)
        day_shift = await staffing_at(
            session,
            duty_center_ids=["district", "street-lujiazui"],
            at=start.replace(hour=10),
            grace=GRACE,
        )
        assert [p.person_id for p in day_shift["district"].people] == ["operator"]
        assert [p.person_id for p in day_shift["street-lujiazui"].people] == ["handler.lujiazui"]


async def test_the_demo_leaves_out_the_centers_of_another_catalog(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    catalog = CATALOG.model_copy(
        update={"sectors": CATALOG.sectors[:1], "towns": [CATALOG.towns[1]]}
    )
    outcomes = await seed_demo(sessions, catalog, NOW)
    assert sorted(o.duty_center_id for o in outcomes) == [
        "district",
        f"sector-{CATALOG.sectors[0].id}",
        f"street-{CATALOG.towns[1].id}",
    ]


# -- the endpoint -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def import_db(make_database: Callable[[str], str]) -> str:
    """Its own database: the app commits for real."""
    url = make_database("notify_duty_import")
    await migrate(url, [MIGRATIONS])
    return url


@pytest.fixture
async def api(import_db: str) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI, AuthSettings]]:
    settings = NotifySettings(bus="memory", database=DatabaseSettings(url=import_db))
    app = create_app(settings)
    async with app_client(app) as client:
        yield client, app, settings.auth


async def test_the_endpoint_imports_one_center_and_answers_a_refusal_as_a_problem(
    api: tuple[httpx.AsyncClient, FastAPI, AuthSettings],
) -> None:
    client, app, auth = api
    operator = await account_bearer(app, auth, "importer", roles=("business_admin",))
    town = await account_bearer(
        app, auth, "town-head", roles=("department_head",), scope="town:lujiazui"
    )
    handler = await account_bearer(app, auth, "a-handler", roles=("handler",))
    [body] = [
        e.model_dump(mode="json", exclude_unset=True)
        for e in entries(district(), first_day="today")
    ]
    url = "/api/v1/duty-centers/import"

    created = await client.post(url, json=body, headers=operator)
    assert created.status_code == 200, created.text
    assert created.json()["status"] in ("created", "unchanged")  # the module may be run twice
    again = await client.post(url, json=body, headers=operator)
    assert again.status_code == 200
    assert (again.json()["status"], again.json()["roster"]) == ("unchanged", "kept")

    bad = await client.post(
        url, json={**body, "id": "sector-x", "kind": "sector", "sector_id": "x"}, headers=operator
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    assert bad.json()["detail"] == "No sector 'x' in the catalog."
    invalid = await client.post(url, json={**body, "leader": "nobody"}, headers=operator)
    assert invalid.status_code == 422

    # The robot: its host among the settings' (the robots' own by default), read as in the API.
    with_robot = await client.post(url, json={**body, "robot_url": ROBOT}, headers=operator)
    assert with_robot.status_code == 200, with_robot.text
    assert (with_robot.json()["status"], with_robot.json()["changed"]) == (
        "updated",
        ["robot_url"],
    )
    same = await client.post(url, json={**body, "robot_url": ROBOT}, headers=operator)
    assert same.json()["status"] == "unchanged"
    elsewhere = "wecom:https://hooks.example.org/send?key=ab12cd34"
    for robot_url, detail in (
        (elsewhere, "The robot's host 'hooks.example.org' is not among RW_ROBOT_ALLOWED_HOSTS"),
        (elsewhere.replace("https", "http"), "The request does not match the expected schema."),
    ):
        refused = await client.post(url, json={**body, "robot_url": robot_url}, headers=operator)
        assert refused.status_code == 422
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["detail"].startswith(detail)
        assert "ab12cd34" not in refused.text
    member = {**body["members"][0], "email": "not an address"}
    bad_email = await client.post(
        url, json={**body, "members": [member, *body["members"][1:]]}, headers=operator
    )
    assert bad_email.status_code == 422
    assert bad_email.json()["errors"][0]["loc"] == ["body", "members", 0, "email"]
    cleared = await client.post(url, json={**body, "robot_url": None}, headers=operator)
    assert (cleared.json()["status"], cleared.json()["changed"]) == ("updated", ["robot_url"])
    assert (await client.post(url, json=body, headers=town)).status_code == 403
    assert (await client.post(url, json=body, headers=handler)).status_code == 403
