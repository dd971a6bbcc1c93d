"""Routing, who is on duty, and the demo roster's shape: pure functions, no I/O."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from riskwatch.common.events.base import Level
from riskwatch.notify.duty.domain import (
    CenterKind,
    DutyCenterRef,
    ShiftSpan,
    demo_shifts,
    on_duty,
    route,
)

from .. import factories as f

DISTRICT = DutyCenterRef("district", CenterKind.DISTRICT)
GAS_SECTOR = DutyCenterRef("sector-construction", CenterKind.SECTOR, sector_id="construction")
FLOOD_SECTOR = DutyCenterRef("sector-emergency", CenterKind.SECTOR, sector_id="emergency")
LUJIAZUI = DutyCenterRef("street-lujiazui", CenterKind.STREET, town_id="lujiazui")
HUINAN = DutyCenterRef("street-huinan", CenterKind.STREET, town_id="huinan")
CENTERS = [DISTRICT, GAS_SECTOR, FLOOD_SECTOR, HUINAN, LUJIAZUI]


def ids(centers: list[DutyCenterRef]) -> list[str]:
    return [c.duty_center_id for c in centers]


def test_blue_and_yellow_go_to_the_street_center_first_then_the_sector() -> None:
    for level in (Level.BLUE, Level.YELLOW):
        assert ids(route("construction", "lujiazui", level, CENTERS)) == [
            "street-lujiazui",
            "sector-construction",
        ]


def test_orange_and_red_also_reach_the_district() -> None:
    for level in (Level.ORANGE, Level.RED):
        assert ids(route("construction", "lujiazui", level, CENTERS)) == [
            "street-lujiazui",
            "sector-construction",
            "district",
        ]


def test_an_alarm_without_a_town_or_street_center_goes_to_its_sector() -> None:
    assert ids(route("construction", None, Level.YELLOW, CENTERS)) == ["sector-construction"]
    assert ids(route("emergency", "gaoqiao", Level.BLUE, CENTERS)) == ["sector-emergency"]
    assert route("power", "gaoqiao", Level.YELLOW, CENTERS) == []


centers_st = st.lists(
    st.builds(
        DutyCenterRef,
        duty_center_id=st.sampled_from([f"c{i}" for i in range(8)]),
        kind=st.sampled_from(list(CenterKind)),
        sector_id=st.sampled_from([None, "construction", "emergency"]),
        town_id=st.sampled_from([None, "lujiazui", "huinan"]),
    ),
    max_size=10,
)
levels = st.sampled_from(list(Level))


@given(
    centers_st,
    st.sampled_from(["construction", "emergency"]),
    st.sampled_from([None, "lujiazui", "huinan"]),
    levels,
)
def test_routing_properties(
    centers: list[DutyCenterRef], sector_id: str, town_id: str | None, level: Level
) -> None:
    routed = route(sector_id, town_id, level, centers)
    assert len(set(ids(routed))) == len(routed)  # nobody is told twice
    for center in routed:  # every center routed to is one this alarm belongs to
        assert (
            (center.kind is CenterKind.STREET and town_id is not None and center.town_id == town_id)
            or (center.kind is CenterKind.SECTOR and center.sector_id == sector_id)
            or (center.kind is CenterKind.DISTRICT and level.rank >= Level.ORANGE.rank)
        )
    kinds = [c.kind for c in routed]
    # Street first, then sector, then district.
    assert kinds == sorted(
        kinds, key=[CenterKind.STREET, CenterKind.SECTOR, CenterKind.DISTRICT].index
    )
    # A higher level never reaches fewer centers.
    for higher in Level:
        if higher.rank > level.rank:
            assert set(ids(routed)) <= set(ids(route(sector_id, town_id, higher, centers)))


def test_on_duty_includes_the_start_and_excludes_the_end() -> None:
    now = f.NOW
    shifts = [
        f.span("ended", now - timedelta(hours=12), now),
        f.span("starting", now, now + timedelta(hours=12)),
        f.span("later", now + timedelta(seconds=1), now + timedelta(hours=12)),
        f.span("on", now - timedelta(hours=1), now + timedelta(hours=1)),
    ]
    assert sorted(s.person_id for s in on_duty(shifts, now)) == ["on", "starting"]


def test_someone_on_two_covering_shifts_is_on_duty_once() -> None:
    now = f.NOW
    shifts = [
        f.span("p", now - timedelta(hours=2), now + timedelta(hours=1), shift_id="a"),
        f.span("p", now - timedelta(hours=1), now + timedelta(hours=2), shift_id="b"),
    ]
    assert [s.shift_id for s in on_duty(shifts, now)] == ["a"]


offsets = st.integers(min_value=-48 * 60, max_value=48 * 60)
shift_st = st.builds(
    lambda p, start, length: f.span(
        p,
        f.NOW + timedelta(minutes=start),
        f.NOW + timedelta(minutes=start + length),
        shift_id=f"{p}-{start}-{length}",
    ),
    st.sampled_from(["a", "b", "c", "d"]),
    offsets,
    st.integers(min_value=1, max_value=24 * 60),
)


@given(st.lists(shift_st, max_size=12), offsets)
def test_on_duty_is_exactly_who_has_a_covering_shift(shifts: list[ShiftSpan], minute: int) -> None:
    at = f.NOW + timedelta(minutes=minute)
    found = on_duty(shifts, at)
    assert all(s.starts_at <= at < s.ends_at for s in found)
    assert {s.person_id for s in found} == {s.person_id for s in shifts if s.covers(at)}
    assert len({s.person_id for s in found}) == len(found)


@given(
    st.sampled_from(["Asia/Shanghai", "Europe/Berlin", "America/New_York", "UTC"]),
    st.dates(min_value=date(2024, 1, 1), max_value=date(2030, 12, 31)),
    st.integers(min_value=0, max_value=9 * 24 * 60 - 1),
)
def test_the_demo_roster_has_exactly_one_person_on_duty_at_every_moment(
    timezone: str, first_day: date, minute: int
) -> None:
    shifts = demo_shifts("c", ["a", "b"], first_day=first_day, days=9, timezone=timezone)
    start, end = shifts[0].starts_at, shifts[-1].ends_at
    at = start + timedelta(minutes=minute)
    if at >= end:
        return
    assert len([s for s in shifts if s.covers(at)]) == 1
    assert len({s.shift_id for s in shifts}) == len(shifts) == 18


@given(
    st.lists(st.sampled_from("abcde"), min_size=2, max_size=5, unique=True),
    st.integers(min_value=1, max_value=14),
)
def test_nobody_in_the_demo_roster_works_two_shifts_in_a_row(people: list[str], days: int) -> None:
    shifts = demo_shifts("c", people, first_day=date(2026, 3, 1), days=days, timezone="UTC")
    for before, after in itertools.pairwise(shifts):
        assert before.ends_at == after.starts_at
        assert before.person_id != after.person_id


def test_the_demo_roster_alternates_and_runs_on_local_time() -> None:
    shifts = demo_shifts(
        "c", ["a", "b"], first_day=date(2026, 11, 1), days=2, timezone="Asia/Shanghai"
    )
    local = [(s.person_id, s.starts_at.strftime("%d %H:%M")) for s in shifts]
    assert local == [("a", "01 08:00"), ("b", "01 20:00"), ("a", "02 08:00"), ("b", "02 20:00")]
    assert shifts[0].starts_at == datetime.fromisoformat("2026-11-01T00:00:00+00:00")
    assert demo_shifts("c", [], first_day=date(2026, 11, 1), days=2, timezone="UTC") == []
