"""Routing, who is on duty, and the demo roster's shape: pure functions, no I/O."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskwatch.common.events.base import Level
from riskwatch.notify.duty.domain import (
    DEFAULT_RULES,
    AlarmPlace,
    Attendance,
    CenterKind,
    CheckIn,
    DutyCenterRef,
    Routed,
    RoutingRule,
    RoutingTarget,
    ShiftSpan,
    SwapAlreadyDecided,
    SwapStatus,
    TargetKind,
    attendance,
    check_in,
    decide_swap,
    is_late,
    on_duty,
    route,
    shift_to_check_in,
    with_fallbacks,
)

from .. import factories as f

DISTRICT = DutyCenterRef("district", CenterKind.DISTRICT)
GAS_SECTOR = DutyCenterRef("sector-construction", CenterKind.SECTOR, sector_id="construction")
FLOOD_SECTOR = DutyCenterRef("sector-emergency", CenterKind.SECTOR, sector_id="emergency")
LUJIAZUI = DutyCenterRef("street-lujiazui", CenterKind.STREET, town_id="lujiazui")
HUINAN = DutyCenterRef("street-huinan", CenterKind.STREET, town_id="huinan")
CENTERS = [DISTRICT, GAS_SECTOR, FLOOD_SECTOR, HUINAN, LUJIAZUI]


def ids(routed: list[Routed]) -> list[str]:
    return [r.center.duty_center_id for r in routed]


def default_route(
    sector_id: str, town_id: str | None, level: Level, centers: list[DutyCenterRef]
) -> list[Routed]:
    return route(DEFAULT_RULES, AlarmPlace(sector_id, "gas", town_id), level, centers)


def test_blue_and_yellow_go_to_the_street_center_first_then_the_sector() -> None:
    for level in (Level.BLUE, Level.YELLOW):
        assert ids(default_route("construction", "lujiazui", level, CENTERS)) == [
            "street-lujiazui",
            "sector-construction",
        ]


def test_orange_and_red_also_reach_the_district() -> None:
    for level in (Level.ORANGE, Level.RED):
        assert ids(default_route("construction", "lujiazui", level, CENTERS)) == [
            "street-lujiazui",
            "sector-construction",
            "district",
        ]


def test_an_alarm_without_a_town_or_street_center_goes_to_its_sector() -> None:
    assert ids(default_route("construction", None, Level.YELLOW, CENTERS)) == [
        "sector-construction"
    ]
    assert ids(default_route("emergency", "gaoqiao", Level.BLUE, CENTERS)) == ["sector-emergency"]
    assert default_route("power", "gaoqiao", Level.YELLOW, CENTERS) == []


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
    routed = default_route(sector_id, town_id, level, centers)
    assert len(set(ids(routed))) == len(routed)  # nobody is told twice
    for center in (r.center for r in routed):  # every center routed to is one of the alarm's
        assert (
            (center.kind is CenterKind.STREET and town_id is not None and center.town_id == town_id)
            or (center.kind is CenterKind.SECTOR and center.sector_id == sector_id)
            or (center.kind is CenterKind.DISTRICT and level.rank >= Level.ORANGE.rank)
        )
    kinds = [r.center.kind for r in routed]
    # Street first, then sector, then district.
    assert kinds == sorted(
        kinds, key=[CenterKind.STREET, CenterKind.SECTOR, CenterKind.DISTRICT].index
    )
    # A higher level never reaches fewer centers.
    for higher in Level:
        if higher.rank > level.rank:
            assert set(ids(routed)) <= set(ids(default_route(sector_id, town_id, higher, centers)))


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


def test_routing_is_data_the_first_matching_rule_decides_and_says_why() -> None:
    rules = [
        RoutingRule(
            "bridges-to-the-district",
            targets=(RoutingTarget(TargetKind.CENTER, "district"),),
            scenario_ids=frozenset({"bridge"}),
        ),
        *DEFAULT_RULES,
    ]
    bridge = route(rules, AlarmPlace("construction", "bridge", "lujiazui"), Level.BLUE, CENTERS)
    assert ids(bridge) == ["district"]
    assert "bridges-to-the-district" in bridge[0].reason
    assert "scenario" in bridge[0].reason
    gas = route(rules, AlarmPlace("construction", "gas", "lujiazui"), Level.BLUE, CENTERS)
    assert ids(gas) == ["street-lujiazui", "sector-construction"]
    assert "street-then-sector" in gas[0].reason
    assert "town lujiazui" in gas[0].reason
    assert route([], AlarmPlace("construction"), Level.RED, CENTERS) == []


def test_an_uncovered_center_hands_its_alarms_to_the_next_level_up() -> None:
    routed = default_route("construction", "lujiazui", Level.YELLOW, CENTERS)
    widened = with_fallbacks(routed, CENTERS, uncovered={"street-lujiazui": "nobody checked in"})
    assert ids(widened) == ["street-lujiazui", "sector-construction", "district"]
    assert widened[-1].fallback_for == "street-lujiazui"
    assert "nobody checked in" in widened[-1].reason
    # Already told (orange and up): not added twice.
    red = default_route("construction", "lujiazui", Level.RED, CENTERS)
    assert ids(with_fallbacks(red, CENTERS, uncovered={"street-lujiazui": "x"})) == ids(red)
    # An explicit fallback, followed while it is uncovered too, never looping.
    chain = [
        DutyCenterRef("a", CenterKind.STREET, town_id="t", fallback_id="b"),
        DutyCenterRef("b", CenterKind.SECTOR, sector_id="s", fallback_id="a"),
        DISTRICT,
    ]
    first = route(DEFAULT_RULES, AlarmPlace("x", None, "t"), Level.BLUE, chain)
    assert ids(with_fallbacks(first, chain, uncovered={"a": "x", "b": "y"})) == ["a", "b"]


@given(centers_st, levels, st.sets(st.sampled_from([f"c{i}" for i in range(8)])))
def test_fallbacks_only_add_and_never_repeat(
    centers: list[DutyCenterRef], level: Level, uncovered: set[str]
) -> None:
    routed = default_route("construction", "lujiazui", level, centers)
    widened = with_fallbacks(routed, centers, uncovered=dict.fromkeys(uncovered, "why"))
    assert widened[: len(routed)] == routed
    assert len(set(ids(widened))) == len(widened)
    for extra in widened[len(routed) :]:
        assert extra.fallback_for in uncovered


# -- check-in -----------------------------------------------------------------------------------

GRACE = timedelta(minutes=15)


def test_a_person_checks_in_for_the_shift_they_are_on_or_about_to_start() -> None:
    now = f.NOW
    night = f.span("p", now - timedelta(hours=2), now + timedelta(minutes=10), shift_id="night")
    day = f.span("p", now + timedelta(minutes=10), now + timedelta(hours=9), shift_id="day")
    other = f.span("q", now - timedelta(hours=1), now + timedelta(hours=1), shift_id="q")
    shifts = [day, night, other]
    assert shift_to_check_in(shifts, person_id="p", at=now) == night
    assert shift_to_check_in(shifts, person_id="p", at=now + timedelta(minutes=10)) == day
    assert shift_to_check_in(shifts, person_id="p", at=now + timedelta(hours=10)) is None
    assert shift_to_check_in(shifts, person_id="r", at=now) is None


def test_late_is_after_the_grace_period() -> None:
    shift = f.span("p", f.NOW, f.NOW + timedelta(hours=8))
    assert not is_late(shift, f.NOW + GRACE, GRACE)
    assert is_late(shift, f.NOW + GRACE + timedelta(seconds=1), GRACE)


def test_attendance_of_a_center() -> None:
    start = f.NOW
    a = f.span("a", start, start + timedelta(hours=8), shift_id="a")
    b = f.span("b", start + timedelta(hours=1), start + timedelta(hours=9), shift_id="b")
    at = start + timedelta(minutes=10)
    assert attendance([], checked_in=set(), at=at, grace=GRACE) is Attendance.UNSTAFFED
    assert attendance([a], checked_in=set(), at=at, grace=GRACE) is Attendance.AWAITED
    later = start + GRACE
    assert attendance([a], checked_in=set(), at=later, grace=GRACE) is Attendance.MISSED
    assert attendance([a], checked_in={"a"}, at=later, grace=GRACE) is Attendance.ATTENDED
    # Someone on duty checked in: attended, whoever else has not.
    two_hours = start + timedelta(hours=2)
    assert attendance([a, b], checked_in={"b"}, at=two_hours, grace=GRACE) is Attendance.ATTENDED
    # A shift over is not "on duty".
    assert attendance([a], checked_in={"a"}, at=a.ends_at, grace=GRACE) is Attendance.UNSTAFFED


@given(st.lists(shift_st, max_size=8), offsets, st.sets(st.sampled_from(["a-0-60", "b-0-60"])))
def test_attendance_is_missed_only_after_the_grace_with_nobody_checked_in(
    shifts: list[ShiftSpan], minute: int, checked: set[str]
) -> None:
    at = f.NOW + timedelta(minutes=minute)
    state = attendance(shifts, checked_in=checked, at=at, grace=GRACE)
    covering = [s for s in shifts if s.covers(at)]
    if state is Attendance.MISSED:
        assert covering
        assert not any(s.shift_id in checked for s in covering)
        assert at >= min(s.starts_at for s in covering) + GRACE
    assert (state is Attendance.UNSTAFFED) == (not covering)


def test_check_in_is_late_after_the_grace_and_happens_once() -> None:
    shift = f.span("p", f.NOW, f.NOW + timedelta(hours=9), shift_id="day")
    on_time = check_in([shift], person_id="p", at=f.NOW + GRACE, grace=GRACE, checked_in={})
    assert on_time == CheckIn(shift, f.NOW + GRACE, late=False, new=True)
    later = f.NOW + timedelta(hours=1)
    again = check_in(
        [shift], person_id="p", at=later, grace=GRACE, checked_in={"day": (f.NOW + GRACE, False)}
    )
    assert again == CheckIn(shift, f.NOW + GRACE, late=False, new=False)
    assert check_in([shift], person_id="q", at=later, grace=GRACE, checked_in={}) is None


@given(st.integers(min_value=-29, max_value=9 * 60 - 1))
def test_check_in_is_late_exactly_when_after_start_plus_grace(minute: int) -> None:
    shift = f.span("p", f.NOW, f.NOW + timedelta(hours=9), shift_id="day")
    at = f.NOW + timedelta(minutes=minute)
    done = check_in([shift], person_id="p", at=at, grace=GRACE, checked_in={})
    assert done is not None
    assert done.new
    assert done.late == (at > f.NOW + GRACE)


def test_a_swap_is_decided_once() -> None:
    assert decide_swap(SwapStatus.REQUESTED, approve=True) is SwapStatus.APPROVED
    assert decide_swap(SwapStatus.REQUESTED, approve=False) is SwapStatus.REJECTED
    for decided in (SwapStatus.APPROVED, SwapStatus.REJECTED):
        for approve in (True, False):
            with pytest.raises(SwapAlreadyDecided):
                decide_swap(decided, approve=approve)
