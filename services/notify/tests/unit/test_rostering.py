"""Rosters: templates laid out in the district's zone (a month in Asia/Shanghai and across DST
in Europe/Berlin), rotations, overrides, and the checks before publication. Pure functions; the
property tests call the production ones and compare with a minute-by-minute count."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from riskwatch.notify.duty.domain import ShiftSpan
from riskwatch.notify.duty.rostering import (
    Override,
    ProblemKind,
    RosterSpec,
    ShiftTemplate,
    blocking,
    gaps,
    lay_out,
    overlaps,
    period_of,
    roster_gaps,
    validate,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
DAY_NIGHT = (
    ShiftTemplate("day", time(8, 30), time(17, 30)),
    ShiftTemplate("night", time(17, 30), time(8, 30)),
)


def covered(shifts: list[ShiftSpan], at: datetime) -> bool:
    return any(s.covers(at) for s in shifts)


def test_a_month_in_shanghai_has_someone_on_duty_at_every_minute() -> None:
    spec = RosterSpec(DAY_NIGHT, rotation=("a", "b", "c"))
    shifts = lay_out("r", "c1", spec, first_day=date(2026, 12, 1), days=31, tz=SHANGHAI)
    start, end = period_of(date(2026, 12, 1), 31, SHANGHAI)
    assert start == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)  # local midnight
    assert len(shifts) == 62
    first = shifts[0]
    assert (first.person_id, first.starts_at.astimezone(SHANGHAI).time()) == ("a", time(8, 30))
    assert first.ends_at - first.starts_at == timedelta(hours=9)
    # The first night of December ends the next morning at 08:30, 15 h later.
    assert shifts[1].ends_at - shifts[1].starts_at == timedelta(hours=15)
    # Midnight to 08:30 on the first day is before the roster's first shift: no hole of it.
    assert validate(shifts, start=start, end=end, members={"a", "b", "c"}) == []
    # A night nobody takes is one, with its times; allow_gaps lets only gaps through.
    holey = [s for s in shifts if s.shift_id != "r:20261210:night"]
    problems = validate(holey, start=start, end=end, members={"a", "b", "c"})
    night = next(s for s in shifts if s.shift_id == "r:20261210:night")
    assert [(p.kind, p.starts_at, p.ends_at) for p in problems] == [
        (ProblemKind.GAP, night.starts_at, night.ends_at)
    ]
    assert blocking(problems, allow_gaps=True) == []
    assert blocking(problems, allow_gaps=False) == problems
    # Last month's final night covers that morning: then there is no gap at all.
    november = lay_out("n", "c1", spec, first_day=date(2026, 11, 30), days=1, tz=SHANGHAI)
    assert (
        validate(shifts, start=start, end=end, members={"a", "b", "c"}, neighbours=november) == []
    )
    # Turns go slot by slot: a, b, c, a, ...
    assert [s.person_id for s in shifts[:5]] == ["a", "b", "c", "a", "b"]


def test_across_the_dst_change_the_night_lasts_what_the_wall_clock_says() -> None:
    # Europe/Berlin: clocks go forward on 2026-03-29 and back on 2026-10-25, at 02:00/03:00.
    spec = RosterSpec(DAY_NIGHT, rotation=("a", "b"))
    spring = lay_out("r", "c", spec, first_day=date(2026, 3, 27), days=4, tz=BERLIN)
    autumn = lay_out("r", "c", spec, first_day=date(2026, 10, 23), days=4, tz=BERLIN)
    length = {s.shift_id: s.ends_at - s.starts_at for s in spring + autumn}
    assert length["r:20260328:night"] == timedelta(hours=14)  # an hour lost
    assert length["r:20261024:night"] == timedelta(hours=16)  # an hour gained
    assert length["r:20260329:day"] == timedelta(hours=9)
    for shifts in (spring, autumn):
        # Consecutive shifts meet exactly: no gap, no overlap, in real time.
        for before, after in itertools.pairwise(shifts):
            assert before.ends_at == after.starts_at
        for s in shifts:
            assert s.starts_at.astimezone(BERLIN).time() in (time(8, 30), time(17, 30))


def test_overrides_replace_the_rotation_for_one_shift() -> None:
    spec = RosterSpec(
        DAY_NIGHT, rotation=("a", "b"), overrides=(Override(date(2026, 12, 2), "night", "z"),)
    )
    shifts = lay_out("r", "c", spec, first_day=date(2026, 12, 1), days=2, tz=SHANGHAI)
    assert [s.person_id for s in shifts] == ["a", "b", "a", "z"]
    start, end = period_of(date(2026, 12, 1), 2, SHANGHAI)
    problems = validate(shifts, start=start, end=end, members={"a", "b"})
    assert [(p.kind, p.person_id) for p in problems if p.kind is not ProblemKind.GAP] == [
        (ProblemKind.NOT_A_MEMBER, "z")
    ]


def test_validation_lists_overlaps_and_people_on_two_centers_with_their_times() -> None:
    t0 = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)
    here = [
        ShiftSpan("h1", "here", "a", t0, t0 + timedelta(hours=9)),
        ShiftSpan("h2", "here", "a", t0 + timedelta(hours=8), t0 + timedelta(hours=24)),
        ShiftSpan("h3", "here", "b", t0 + timedelta(hours=9), t0 + timedelta(hours=24)),
    ]
    there = [ShiftSpan("t1", "there", "b", t0 + timedelta(hours=20), t0 + timedelta(hours=30))]
    problems = validate(
        here, start=t0, end=t0 + timedelta(hours=24), members={"a", "b"}, elsewhere=there
    )
    assert [(p.kind, p.person_id, p.starts_at, p.ends_at) for p in problems] == [
        (ProblemKind.OVERLAP, "a", t0 + timedelta(hours=8), t0 + timedelta(hours=9)),
        (ProblemKind.TWO_CENTERS, "b", t0 + timedelta(hours=20), t0 + timedelta(hours=24)),
    ]
    assert problems[1].other_duty_center_id == "there"
    assert problems[0].minutes == 60


def span(shift_id: str, start: datetime, hours: float) -> ShiftSpan:
    return ShiftSpan(shift_id, "c", "p", start, start + timedelta(hours=hours))


def test_a_roster_starts_with_its_first_shift_and_continues_the_last_night() -> None:
    midnight = datetime(2026, 12, 1, tzinfo=SHANGHAI)
    end = midnight + timedelta(days=1)
    shifts = [
        span("day", midnight + timedelta(hours=8.5), 9),
        span("night", midnight + timedelta(hours=17.5), 15),
    ]
    # Before any roster: nobody until the first shift, which is no hole in this roster.
    assert roster_gaps(shifts, [], start=midnight, end=end) == []
    # After one: its last night covers the morning.
    last_night = span("prev", midnight - timedelta(hours=6.5), 15)
    assert roster_gaps(shifts, [last_night], start=midnight, end=end) == []
    # A hole in the day is one, whatever came before.
    holey = [shifts[0], span("late", midnight + timedelta(hours=19), 13.5)]
    assert roster_gaps(holey, [last_night], start=midnight, end=end) == [
        (midnight + timedelta(hours=17.5), midnight + timedelta(hours=19))
    ]
    # A previous night that ends early leaves a hole before the first shift.
    short = span("prev", midnight - timedelta(hours=6.5), 12)
    assert roster_gaps(shifts, [short], start=midnight, end=end) == [
        (midnight + timedelta(hours=5.5), midnight + timedelta(hours=8.5))
    ]


# -- properties ---------------------------------------------------------------------------------

T0 = datetime(2026, 12, 1, tzinfo=UTC)
minute_st = st.integers(min_value=0, max_value=300)
shifts_st = st.lists(
    st.builds(
        lambda person, start, length, n: ShiftSpan(
            f"s{n}-{person}-{start}-{length}",
            "c",
            person,
            T0 + timedelta(minutes=start),
            T0 + timedelta(minutes=start + length),
        ),
        st.sampled_from("abc"),
        minute_st,
        st.integers(min_value=1, max_value=120),
        st.integers(min_value=0, max_value=10**6),
    ),
    max_size=8,
    unique_by=lambda s: s.shift_id,
)


@given(shifts_st, minute_st, st.integers(min_value=1, max_value=300))
def test_gaps_are_exactly_the_uncovered_minutes(
    shifts: list[ShiftSpan], start_min: int, length: int
) -> None:
    start = T0 + timedelta(minutes=start_min)
    end = start + timedelta(minutes=length)
    found = gaps(shifts, start=start, end=end)
    for (a_start, a_end), (b_start, _) in itertools.pairwise(found):
        assert a_start < a_end < b_start  # ordered, non-empty, separated by covered time
    for m in range(length):
        at = start + timedelta(minutes=m)
        in_gap = any(g_start <= at < g_end for g_start, g_end in found)
        assert in_gap == (not covered(shifts, at))


@given(shifts_st)
def test_overlaps_are_exactly_a_persons_shifts_sharing_a_minute(shifts: list[ShiftSpan]) -> None:
    found = {frozenset((a.shift_id, b.shift_id)) for a, b in overlaps(shifts)}
    expected = {
        frozenset((a.shift_id, b.shift_id))
        for i, a in enumerate(shifts)
        for b in shifts[i + 1 :]
        if a.person_id == b.person_id and a.starts_at < b.ends_at and b.starts_at < a.ends_at
    }
    assert found == expected
    assert len(overlaps(shifts)) == len(found)  # each pair once


@given(
    st.sampled_from([SHANGHAI, BERLIN, ZoneInfo("America/New_York")]),
    st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 12, 31)),
    st.integers(min_value=1, max_value=10),
    st.lists(st.sampled_from("abcd"), min_size=1, max_size=4),
)
def test_a_day_night_rotation_leaves_only_the_first_morning_uncovered(
    tz: ZoneInfo, first_day: date, days: int, rotation: list[str]
) -> None:
    spec = RosterSpec(DAY_NIGHT, rotation=tuple(rotation))
    shifts = lay_out("r", "c", spec, first_day=first_day, days=days, tz=tz)
    start, end = period_of(first_day, days, tz)
    found = gaps(shifts, start=start, end=end)
    assert found == [(start, shifts[0].starts_at)]
    assert len({s.shift_id for s in shifts}) == len(shifts) == 2 * days
    # Nobody is on two shifts at once, whoever the rotation names.
    assert overlaps(shifts) == []
