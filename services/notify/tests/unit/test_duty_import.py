"""The duty import document: each center validated on its own with a reason that says where,
`roster: default`, relative first days, shifts that must leave no gap, and the demo file."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from riskwatch.common.catalog import default_catalog
from riskwatch.common.identity.demo import DEMO_ACCOUNTS
from riskwatch.notify.duty.domain import CenterKind
from riskwatch.notify.duty.importer import (
    CenterEntry,
    DocumentInvalid,
    Parsed,
    TemplateEntry,
    demo_entries,
    read_document,
    resolve_day,
    uncovered_stretches,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY_NIGHT = [
    {"name": "day", "start": "08:30", "end": "17:30"},
    {"name": "night", "start": "17:30", "end": "08:30"},
]


def center(center_id: str = "street-lujiazui", **fields: Any) -> dict[str, Any]:
    return {
        "id": center_id,
        "name": "Lujiazui Street duty center",
        "kind": "street",
        "town_id": "lujiazui",
        "members": [
            {"person_id": "he.ping", "name": "He Ping", "phone": "+8610000000301"},
            {"person_id": "lin.yan", "name": "Lin Yan", "phone": "+8610000000302"},
        ],
        **fields,
    }


def only(parsed: list[Parsed]) -> Parsed:
    [one] = parsed
    return one


def test_roster_default_takes_the_defaults_and_a_mapping_overrides_some() -> None:
    parsed = read_document(
        {
            "roster_defaults": {"templates": DAY_NIGHT, "first_day": "today-1", "days": 9},
            "centers": [
                center(roster="default"),
                center("street-huinan", town_id="huinan", roster={"days": 3}),
                center("street-chuansha", town_id="chuansha"),
            ],
        }
    )
    entries = [p.entry for p in parsed]
    assert all(entries), [p.error for p in parsed]
    first, second, third = entries
    assert first is not None
    assert first.roster is not None
    assert (first.roster.first_day, first.roster.days) == ("today-1", 9)
    assert first.rotation == ("he.ping", "lin.yan")  # the members, in order
    assert first.roster.templates[1].end == time(8, 30)
    assert second is not None
    assert second.roster is not None
    assert second.roster.days == 3
    assert third is not None
    assert third.roster is None


def test_each_bad_center_is_refused_with_where_and_why_and_the_others_read() -> None:
    parsed = read_document(
        {
            "centers": [
                center(roster="default"),
                center("a", leader="nobody"),
                center("b", kind="sector"),
                center("c", roster={"templates": DAY_NIGHT[:1], "first_day": "today", "days": 9}),
                center("d", roster={"templates": DAY_NIGHT, "first_day": "2026-12-01", "days": 63}),
                center("e", roster={"templates": DAY_NIGHT, "first_day": "yesterday", "days": 1}),
                center("f", members=[{"person_id": "X", "name": "", "phone": "call me"}]),
                "a string",
                center("g", roster={"templates": DAY_NIGHT, "days": 2, "first_day": "today",
                                    "rotation": ["he.ping", "stranger"]}),
            ]
        }
    )  # fmt: skip
    errors = {p.center_id or str(p.number): p.error for p in parsed}
    assert errors["street-lujiazui"] == "roster: default, but no roster_defaults"
    assert errors["a"] == "the leader 'nobody' is not one of the members"
    assert "a sector center needs its sector_id" in errors["b"]
    assert errors["c"] == (
        "roster: the shifts leave nobody on duty 17:30-08:30 every day; add shifts, or say "
        "allow_gaps: true"
    )
    assert errors["d"].startswith("roster.days: Input should be less than or equal to 62")
    assert errors["e"].startswith("roster.first_day.")
    assert "members.0.person_id" in errors["f"]
    assert "members.0.name" in errors["f"]
    assert "members.0.phone" in errors["f"]
    assert "call me" not in errors["f"]  # where and why, never the value
    assert errors["8"] == "not a mapping"
    assert errors["g"] == "the rotation names people who are not members: ['stranger']"


def test_an_unquoted_yaml_time_is_explained() -> None:
    data = yaml.safe_load(
        "centers:\n- id: x\n  name: X\n  kind: district\n  members: [{person_id: a, name: A,"
        " phone: '+8610000000001'}]\n  roster: {first_day: today, days: 1, templates:"
        " [{name: day, start: '08:30', end: 17:30}], allow_gaps: true}\n"
    )
    error = only(read_document(data)).error
    assert error.startswith('roster.templates.0.end: a time "HH:MM" (in YAML, quote it')


def test_a_center_in_conflict_with_an_earlier_one_is_refused() -> None:
    parsed = read_document(
        {
            "centers": [
                {"id": "district", "name": "D", "kind": "district"},
                center(),
                center(),  # the same id
                center("street-huinan", town_id="huinan", members=[
                    {"person_id": "he.ping", "name": "He Ping", "phone": "+8610000000999"}]),
                center("street-chuansha", town_id="chuansha", members=[
                    {"person_id": "song.jia", "name": "Song Jia", "phone": "+8610000000301"}]),
                {"id": "district-2", "name": "D2", "kind": "district"},
                center("street-gaoqiao", town_id="gaoqiao"),  # the same people: fine
            ]
        }
    )  # fmt: skip
    assert [p.error for p in parsed] == [
        "",
        "",
        "center 'street-lujiazui' is already center 2",
        "he.ping has another phone in center 2",
        "song.jia's phone is he.ping's (center 2); SMS replies could not tell them apart",
        "center 1 is already the district's",
        "",
    ]


def test_centers_come_after_their_fallback_and_a_loop_is_refused() -> None:
    parsed = read_document(
        {
            "centers": [
                center("street-a", town_id="a", fallback_id="sector-x"),
                {"id": "sector-x", "name": "X", "kind": "sector", "sector_id": "x",
                 "fallback_id": "district"},
                {"id": "district", "name": "D", "kind": "district"},
                center("street-b", town_id="b", fallback_id="street-c"),
                center("street-c", town_id="c", fallback_id="street-b"),
                center("street-d", town_id="d", fallback_id="elsewhere"),
            ]
        }
    )  # fmt: skip
    order = [(p.number, p.error) for p in parsed]
    assert [n for n, _ in order[:3]] == [3, 2, 1]
    loops = [e for _, e in order if e.startswith("fallbacks loop")]
    assert loops == ["fallbacks loop: street-b -> street-c -> street-b"]
    assert (6, "") in order  # a fallback outside the document: to be found in the database


@pytest.mark.parametrize(
    "data",
    [[], {"centers": []}, {"centers": "x"}, {"center": [center()]}, {"centers": [center()],
     "roster_defaults": {"days": 0}}],
)  # fmt: skip
def test_a_document_without_a_list_of_centers_is_unusable(data: Any) -> None:
    with pytest.raises(DocumentInvalid):
        read_document(data)


def test_relative_days_are_days_in_the_district_zone() -> None:
    now = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)  # 01:00 on 1 December in Shanghai
    assert resolve_day("today", now=now, tz=SHANGHAI) == date(2026, 12, 1)
    assert resolve_day("today-1", now=now, tz=SHANGHAI) == date(2026, 11, 30)
    assert resolve_day("today+10", now=now, tz=SHANGHAI) == date(2026, 12, 11)
    assert resolve_day(date(2027, 1, 1), now=now, tz=SHANGHAI) == date(2027, 1, 1)


def templates(*spans: tuple[str, str]) -> list[TemplateEntry]:
    return [
        TemplateEntry.model_validate({"name": f"t{n}", "start": a, "end": b})
        for n, (a, b) in enumerate(spans)
    ]


def test_uncovered_stretches_of_a_day() -> None:
    assert uncovered_stretches(templates(("08:30", "17:30"), ("17:30", "08:30"))) == []
    assert uncovered_stretches(templates(("00:00", "12:00"), ("12:00", "00:00"))) == []
    assert uncovered_stretches(templates(("08:00", "12:00"), ("13:00", "20:00"))) == [
        (time(12), time(13)),
        (time(20), time(8)),  # across midnight: one stretch
    ]
    assert uncovered_stretches(templates(("22:00", "06:00"))) == [(time(6), time(22))]


def test_the_demo_file_staffs_the_default_catalog_and_the_demo_accounts() -> None:
    entries = {e.id: e for e in demo_entries()}
    catalog = default_catalog()
    sectors = {e.sector_id for e in entries.values() if e.kind is CenterKind.SECTOR}
    assert sectors == {s.id for s in catalog.sectors}
    towns = {e.town_id for e in entries.values() if e.kind is CenterKind.STREET}
    assert towns == {"lujiazui", "zhangjiang", "chuansha", "huinan"}
    assert [e.id for e in entries.values() if e.kind is CenterKind.DISTRICT] == ["district"]
    accounts = {username: scope for username, _, _, scope in DEMO_ACCOUNTS}
    on_rotation = {p: e.id for e in entries.values() for p in e.rotation}
    assert on_rotation["operator"] == "district"
    assert on_rotation["handler.lujiazui"] == "street-lujiazui"
    assert on_rotation["handler.zhangjiang"] == "street-zhangjiang"
    assert entries["district"].leader == "leader"
    assert entries["sector-construction"].leader == "construction-head"
    members = [m for e in entries.values() for m in e.members]
    for m in members:
        if m.person_id in accounts:  # an account's scope reaches its center
            center_of = next(e for e in entries.values() if m in e.members)
            scope = accounts[m.person_id]
            assert scope == "district" or scope.split(":")[1] in (
                center_of.sector_id,
                center_of.town_id,
            ), m.person_id
    assert all(m.phone.startswith("+86100") for m in members)
    assert len({m.phone for m in members}) == len(members)
    for e in entries.values():
        assert e.leader in {m.person_id for m in e.members}
        assert e.roster is not None
        assert (e.roster.first_day, e.roster.days) == ("today-1", 9)
        assert uncovered_stretches(e.roster.templates) == []


def test_an_entry_serialises_to_the_body_it_was_read_from() -> None:
    entry = CenterEntry.model_validate(
        center(roster={"templates": DAY_NIGHT, "first_day": "2026-12-01", "days": 2})
    )
    body = entry.model_dump(mode="json", exclude_unset=True)
    assert body["roster"]["templates"] == DAY_NIGHT
    assert body["roster"]["first_day"] == "2026-12-01"
    assert "fallback_id" not in body  # not given: left as it is, not cleared
    assert CenterEntry.model_validate(body) == entry


ROBOT = "wecom:https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=secret-robot-key"


def test_a_center_s_robot_and_a_member_s_e_mail_and_locale_are_read_and_checked() -> None:
    he_ping = {"person_id": "he.ping", "name": "He Ping", "phone": "+8610000000301"}
    parsed = read_document(
        {
            "centers": [
                center(robot_url=ROBOT, members=[
                    {**he_ping, "email": "he.ping@example.org", "locale": "en"},
                    {"person_id": "lin.yan", "name": "Lin Yan", "phone": "+8610000000302"}]),
                center("a", robot_url=ROBOT.replace("wecom:", "slack:")),
                center("b", robot_url=ROBOT.replace("https:", "http:")),
                center("c", robot_url=ROBOT.replace("https://", "https://me:pw@")),
                center("d", members=[{**he_ping, "email": "he.ping at example.org"}]),
                center("e", members=[{**he_ping, "locale": "fr"}]),
                center("f", robot_url=None),
            ]
        }
    )  # fmt: skip
    errors = {p.center_id: p.error for p in parsed}
    first = parsed[0].entry
    assert first is not None, errors
    assert first.robot_url == ROBOT
    # What a member says is what changes: the e-mail and locale when given, else left alone.
    assert first.members[0].contact() == {
        "name": "He Ping",
        "phone": "+8610000000301",
        "email": "he.ping@example.org",
        "locale": "en",
    }
    assert first.members[1].contact() == {"name": "Lin Yan", "phone": "+8610000000302"}
    assert errors["a"].startswith('robot_url: a robot is "wecom:<https url>"')
    assert errors["b"].startswith("robot_url: the robot's URL carries its key: https only")
    assert errors["c"] == "robot_url: the robot's URL must not hold a user name or password"
    assert errors["d"] == "members.0.email: not an e-mail address (name@example.org)"
    assert errors["e"].startswith("members.0.locale: Input should be 'zh-CN' or 'en'")
    assert errors["f"] == ""  # null: the center has no robot
    assert all("secret-robot-key" not in e for e in errors.values())


def test_a_person_s_e_mail_or_locale_must_agree_across_centers_where_given() -> None:
    def he_ping(**fields: str) -> list[dict[str, str]]:
        return [{"person_id": "he.ping", "name": "He Ping", "phone": "+8610000000301", **fields}]

    parsed = read_document(
        {
            "centers": [
                center(members=he_ping(email="he.ping@example.org")),
                center("street-huinan", town_id="huinan", members=he_ping()),
                center("street-chuansha", town_id="chuansha", members=he_ping(locale="en")),
                center("street-gaoqiao", town_id="gaoqiao",
                       members=he_ping(email="hp@example.org", locale="zh-CN")),
            ]
        }
    )  # fmt: skip
    assert [p.error for p in parsed] == [
        "",
        "",  # says nothing of the e-mail: no conflict
        "",
        "he.ping has another email in center 1; locale in center 3",
    ]
