"""The monthly report's duty section: exact cases, then properties over any shifts and rosters,
the time nobody was on duty checked against minute-by-minute sampling."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskwatch.reporting.reports.domain import (
    DutyCenterSection,
    Month,
    RosterFact,
    ShiftFact,
    monthly_report,
    uncovered_time,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
MIN = timedelta(minutes=1)
H = timedelta(hours=1)


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A wall-clock time in the district."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def duty(
    now: datetime, shifts: Sequence[ShiftFact], rosters: Sequence[RosterFact] = ()
) -> list[DutyCenterSection]:
    return monthly_report(
        "2026-10",
        SHANGHAI,
        now,
        sector_ids=[],
        alarms=[],
        work_orders=[],
        notifications=[],
        shifts=shifts,
        rosters=rosters,
    ).duty


AFTER = local(2026, 11, 5)
CONSTRUCTION = "sector-construction"
SHIFTS = [
    # Started in September: covers October's first hours, counts as none of its shifts.
    ShiftFact(CONSTRUCTION, local(2026, 9, 30, 20), local(2026, 10, 1, 8)),
    ShiftFact(
        CONSTRUCTION, local(2026, 10, 1, 8), local(2026, 10, 1, 20), local(2026, 10, 1, 8, 5), False
    ),
    # Overlaps the one before by two hours: counted once.
    ShiftFact(
        CONSTRUCTION,
        local(2026, 10, 1, 18),
        local(2026, 10, 2, 6),
        local(2026, 10, 1, 18, 20),
        True,
    ),
    ShiftFact(CONSTRUCTION, local(2026, 10, 2, 8), local(2026, 10, 2, 20)),  # nobody came
    # Runs into November, checked in after October ended: not checked in for October.
    ShiftFact(
        CONSTRUCTION, local(2026, 10, 31, 20), local(2026, 11, 1, 8), local(2026, 11, 1, 0, 10)
    ),
    # Checked in before notify said whether a check-in was late: not late.
    ShiftFact("district", local(2026, 10, 10), local(2026, 10, 10, 12), local(2026, 10, 10)),
    ShiftFact("street-gaoqiao", local(2026, 11, 1), local(2026, 11, 1, 12)),  # November's
]
ROSTERS = [
    RosterFact(CONSTRUCTION, local(2026, 9, 28), local(2026, 10, 5), local(2026, 9, 27)),
    RosterFact(CONSTRUCTION, local(2026, 10, 26), local(2026, 11, 2), local(2026, 10, 27)),
    RosterFact(CONSTRUCTION, local(2026, 9, 1), local(2026, 9, 8), local(2026, 8, 20)),
    RosterFact(CONSTRUCTION, local(2026, 11, 1), local(2026, 11, 8), local(2026, 10, 20)),
    RosterFact("district", local(2026, 10, 5), local(2026, 10, 12), local(2026, 10, 5)),
    RosterFact("roster-but-no-shift", local(2026, 10, 5), local(2026, 10, 12), local(2026, 10, 1)),
]


def test_each_center_with_a_shift_in_the_month_gets_its_numbers() -> None:
    district, construction = duty(AFTER, SHIFTS, ROSTERS)
    # Covered: 1 Oct 00:00 to 2 Oct 06:00, 2 Oct 08:00 to 20:00, 31 Oct 20:00 to midnight.
    assert construction == DutyCenterSection(
        duty_center_id=CONSTRUCTION,
        shifts=4,
        checked_in=2,
        check_in_rate=0.5,
        late_check_ins=1,
        minutes_without_anyone_on_duty=(31 * 24 - 30 - 12 - 4) * 60,
        rosters=2,
        rosters_published_on_time=1,
    )
    assert district == DutyCenterSection(
        duty_center_id="district",
        shifts=1,
        checked_in=1,
        check_in_rate=1.0,
        late_check_ins=0,
        minutes_without_anyone_on_duty=(31 * 24 - 12) * 60,
        rosters=1,
        rosters_published_on_time=1,  # published at the very start of its period: on time
    )


def test_the_month_in_progress_is_read_as_of_now() -> None:
    district, construction = duty(local(2026, 10, 2, 7), SHIFTS)
    # The 08:00 shift of 2 October has not started; from 06:00 to 07:00 nobody was on duty.
    assert (construction.shifts, construction.checked_in, construction.late_check_ins) == (2, 2, 1)
    assert construction.minutes_without_anyone_on_duty == 60
    # A center whose first shift of the month is still to come: nobody on duty so far.
    assert (district.shifts, district.check_in_rate) == (0, None)
    assert district.minutes_without_anyone_on_duty == 31 * 60


def test_a_center_whose_shifts_all_started_before_the_month_has_no_rate() -> None:
    (section,) = duty(AFTER, SHIFTS[:1])
    assert (section.shifts, section.check_in_rate) == (0, None)
    assert section.minutes_without_anyone_on_duty == (31 * 24 - 8) * 60


def test_no_shift_in_the_month_no_duty_section() -> None:
    assert duty(AFTER, SHIFTS[-1:], ROSTERS) == []


def test_seconds_count_as_fractions_of_a_minute() -> None:
    start = local(2026, 10, 1)
    gaps = uncovered_time(
        [(start + timedelta(seconds=30), start + 2 * MIN)], start, start + 3 * MIN
    )
    assert gaps / MIN == 1.5
    assert uncovered_time([], start, start - H) == timedelta(0)


# -- properties ----------------------------------------------------------------------------

START, END = Month(2026, 10).window(SHANGHAI)
CENTERS = ("sector-construction", "sector-market", "district")
minutes_around_start = st.integers(-180, 900).map(lambda m: START + m * MIN)


@st.composite
def shift_facts(draw: st.DrawFn) -> ShiftFact:
    starts = draw(minutes_around_start)
    checked_in = draw(st.none() | minutes_around_start)
    return ShiftFact(
        draw(st.sampled_from(CENTERS)),
        starts,
        starts + draw(st.integers(0, 300)) * MIN,
        checked_in,
        None if checked_in is None else draw(st.none() | st.booleans()),
    )


@st.composite
def roster_facts(draw: st.DrawFn) -> RosterFact:
    starts = START + draw(st.integers(-3000, 3000)) * MIN
    return RosterFact(
        draw(st.sampled_from(CENTERS)),
        starts,
        starts + draw(st.integers(0, 3000)) * MIN,
        starts + draw(st.integers(-3000, 3000)) * MIN,
    )


# Reports generated in the month's first hours: a window short enough to sample minute by minute.
early_nows = st.integers(0, 720).map(lambda m: (START + m * MIN).astimezone(UTC))


def sampled_gap_minutes(shifts: Sequence[ShiftFact], until: datetime) -> int:
    """Minutes in [START, until) that no shift covers, one sample at each minute's start: exact
    while every shift starts and ends on a whole minute."""
    minutes = int((until - START) / MIN)
    at = [START + i * MIN for i in range(minutes)]
    return sum(not any(s.starts_at <= t < s.ends_at for s in shifts) for t in at)


@given(st.lists(shift_facts(), max_size=12), st.lists(roster_facts(), max_size=8), early_nows)
def test_nobody_on_duty_is_the_minutes_no_shift_covers(
    shifts: list[ShiftFact], rosters: list[RosterFact], now: datetime
) -> None:
    sections = duty(now, shifts, rosters)
    overlapping = {s.duty_center_id for s in shifts if s.starts_at < END and s.ends_at > START}
    assert [c.duty_center_id for c in sections] == sorted(overlapping)
    window_minutes = (now - START) / MIN
    for c in sections:
        own = [s for s in shifts if s.duty_center_id == c.duty_center_id]
        assert c.minutes_without_anyone_on_duty == sampled_gap_minutes(own, now)
        assert 0 <= c.minutes_without_anyone_on_duty <= window_minutes
        assert 0 <= c.late_check_ins <= c.checked_in <= c.shifts
        if c.shifts == 0:
            assert c.check_in_rate is None
        else:
            assert c.check_in_rate == pytest.approx(c.checked_in / c.shifts)
            assert c.check_in_rate is not None
            assert 0.0 <= c.check_in_rate <= 1.0
        assert 0 <= c.rosters_published_on_time <= c.rosters


@given(st.lists(shift_facts(), min_size=1, max_size=12), st.randoms(), early_nows)
def test_overlapping_shifts_never_count_twice(
    shifts: list[ShiftFact], shuffler: random.Random, now: datetime
) -> None:
    doubled = [*shifts, *shifts]
    # A shift inside another one adds nobody on duty.
    inner = [
        ShiftFact(s.duty_center_id, s.starts_at + MIN, s.ends_at - MIN)
        for s in shifts
        if s.ends_at - s.starts_at > 2 * MIN
    ]
    mixed = [*doubled, *inner]
    shuffler.shuffle(mixed)
    gaps = {c.duty_center_id: c.minutes_without_anyone_on_duty for c in duty(now, shifts)}
    again = {c.duty_center_id: c.minutes_without_anyone_on_duty for c in duty(now, mixed)}
    assert again == gaps


intervals = st.lists(
    st.tuples(st.integers(-30, 150), st.integers(0, 90)).map(
        lambda p: (START + p[0] * MIN, START + (p[0] + p[1]) * MIN)
    ),
    max_size=10,
)


@given(intervals, intervals, st.integers(-10, 120))
def test_uncovered_time_is_the_window_minus_the_union(
    some: list[tuple[datetime, datetime]], more: list[tuple[datetime, datetime]], length: int
) -> None:
    end = START + length * MIN
    gaps = uncovered_time(some, START, end)
    sampled = [
        START + i * MIN
        for i in range(max(length, 0))
        if not any(lo <= START + i * MIN < hi for lo, hi in some)
    ]
    assert gaps == len(sampled) * MIN
    assert timedelta(0) <= gaps <= max(end - START, timedelta(0))
    # More shifts never leave more time uncovered.
    assert uncovered_time([*some, *more], START, end) <= gaps
