"""The monthly report's devices section, pure (reports/devices.py): status periods rebuilt from
changes in any order, the time-weighted online rate by sector, scenario and town, and the
quality counts of the month's hours."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskwatch.common.events.device_status import DeviceState
from riskwatch.common.uptime import Period, uptime
from riskwatch.reporting.reports.devices import (
    DEVICES_LISTED,
    FLAGS,
    DeviceQualityFact,
    Place,
    QualityHourFact,
    StatusChangeFact,
    online_section,
    quality_section,
    status_periods,
)

# November 2026 in Shanghai: 30 days.
START = datetime(2026, 10, 31, 16, tzinfo=UTC)
END = datetime(2026, 11, 30, 16, tzinfo=UTC)
DAY = timedelta(days=1)
GAS = Place("construction", "gas", "lujiazui")
LIFT = Place("market", "elevators", None)
SECTORS = ["construction", "market"]
NONE = dict.fromkeys(FLAGS, 0)


def changes(
    device_id: str, *steps: tuple[DeviceState, datetime], place: Place = GAS
) -> list[StatusChangeFact]:
    """A device's changes in order, each from the status before it."""
    out, before = [], None
    for status, at in steps:
        out.append(StatusChangeFact(device_id, status, before, at, place))
        before = status
    return out


def test_two_devices_one_offline_3_of_30_days_are_95_percent_online() -> None:
    steady = changes("gas-1", ("online", START - 10 * DAY))
    flaky = changes(
        "gas-2",
        ("online", START - 10 * DAY),
        ("offline", START + 9 * DAY),
        ("online", START + 12 * DAY),
    )
    online = online_section([*flaky, *steady], start=START, end=END, as_of=END, sector_ids=SECTORS)
    assert online.overall.devices == 2
    assert online.overall.observed_s == 60 * DAY.total_seconds()
    assert online.overall.offline_s == 3 * DAY.total_seconds()
    assert online.overall.rate == pytest.approx(0.95)
    assert online.by_sector["construction"].rate == pytest.approx(0.95)
    assert online.by_sector["market"].devices == 0
    assert online.by_sector["market"].rate is None
    assert online.by_scenario == {"gas": online.overall}
    assert online.by_town == {"lujiazui": online.overall}
    [worst] = online.least_online  # only devices with offline time are listed
    assert (worst.device_id, worst.rate) == ("gas-2", pytest.approx(0.9))


def test_a_month_in_progress_is_read_up_to_now_and_a_device_from_its_first_change() -> None:
    now = START + 10 * DAY
    late = changes("lift-1", ("online", START + 4 * DAY), ("offline", START + 9 * DAY), place=LIFT)
    online = online_section(late, start=START, end=END, as_of=now, sector_ids=SECTORS)
    assert online.overall.observed_s == 6 * DAY.total_seconds()
    assert online.overall.rate == pytest.approx(5 / 6)
    assert online.by_town == {"none": online.overall}


def test_a_device_counts_where_it_was_and_a_sectors_report_only_its_time_there() -> None:
    moved = [
        *changes("d-1", ("online", START)),
        StatusChangeFact("d-1", "offline", "online", START + 10 * DAY, LIFT),
        StatusChangeFact("d-1", "online", "offline", START + 20 * DAY, LIFT),
    ]
    district = online_section(moved, start=START, end=END, as_of=END, sector_ids=SECTORS)
    assert district.overall.devices == 1
    assert district.by_sector["construction"].observed_s == 10 * DAY.total_seconds()
    assert district.by_sector["market"].rate == pytest.approx(0.5)
    assert district.least_online[0].sector_id == "market"  # its last place in the month
    market = online_section(
        moved, start=START, end=END, as_of=END, sector_ids=["market"], only_sector="market"
    )
    assert list(market.by_sector) == ["market"]
    assert market.overall.rate == pytest.approx(0.5)


def test_changes_at_one_instant_end_where_their_chain_ends() -> None:
    t = START + DAY
    # Offline at t, a late reading back at t, offline again at t: offline from t.
    chain = [
        *changes("d-1", ("online", START)),
        StatusChangeFact("d-1", "offline", "online", t, GAS),
        StatusChangeFact("d-1", "online", "offline", t, GAS),
        StatusChangeFact("d-1", "offline", "online", t, GAS),
    ]
    for order in (chain, chain[::-1], [chain[2], chain[0], chain[3], chain[1]]):
        assert [p.period for p in status_periods(order)] == [
            Period("online", START, t),
            Period("offline", t, None),
        ]
    back = chain[:3]  # offline and back at the same instant: online all along
    assert [p.period for p in status_periods(back[::-1])] == [Period("online", START, None)]


# A device's true history: transitions in order, some at the same instant (a zero-length period).
@st.composite
def histories(draw: st.DrawFn) -> list[StatusChangeFact]:
    gaps = draw(st.lists(st.integers(0, 5 * 86_400), min_size=1, max_size=15))
    first: DeviceState = draw(st.sampled_from(["online", "offline"]))
    out: list[StatusChangeFact] = []
    at, status, before = START - DAY, first, None
    for gap in gaps:
        at += timedelta(seconds=gap)
        out.append(StatusChangeFact("d-1", status, before, at, GAS))
        before, status = status, "offline" if status == "online" else "online"
    return out


def true_periods(history: list[StatusChangeFact]) -> list[Period]:
    ends = [c.changed_at for c in history[1:]] + [None]
    return [Period(c.status, c.changed_at, end) for c, end in zip(history, ends, strict=True)]


@given(histories(), st.randoms(use_true_random=False), st.integers(0, 40 * 86_400))
def test_any_arrival_order_gives_the_true_historys_rate(
    history: list[StatusChangeFact], rnd: random.Random, now_s: int
) -> None:
    shuffled = list(history)
    rnd.shuffle(shuffled)
    now = START + timedelta(seconds=now_s)
    rebuilt = [p.period for p in status_periods(shuffled)]
    assert rebuilt == [p.period for p in status_periods(history)]
    expected = uptime(true_periods(history), start=START, end=END, now=now)
    got = uptime(rebuilt, start=START, end=END, now=now)
    assert got.online_s == pytest.approx(expected.online_s)
    assert got.observed_s == pytest.approx(expected.observed_s)


def test_the_least_online_are_listed_lowest_rate_first_up_to_the_bound() -> None:
    facts = [
        c
        for n in range(DEVICES_LISTED + 2)
        for c in changes(f"d-{n:02}", ("online", START), ("offline", START + (n + 1) * DAY))
    ]
    listed = online_section(
        facts, start=START, end=END, as_of=END, sector_ids=SECTORS, names={"d-00": "Well 0"}
    ).least_online
    assert [d.device_id for d in listed] == [f"d-{n:02}" for n in range(DEVICES_LISTED)]
    assert (listed[0].name, listed[1].name) == ("Well 0", None)


def test_the_quality_of_the_months_hours_per_sector() -> None:
    hour = START + DAY
    hours = [
        QualityHourFact("construction", hour, 1000, 30, {"out_of_range": 20, "stuck": 15}),
        QualityHourFact("construction", hour + timedelta(hours=1), 1000, 10, {"late": 10}),
        QualityHourFact("market", hour, 500, 0, {}),
        QualityHourFact("construction", START - timedelta(hours=1), 999, 999, {"late": 999}),
    ]
    flagged = [
        DeviceQualityFact("gas-1", "G1", "construction", "gas", None, 200, 25, {"stuck": 25}),
        DeviceQualityFact("gas-2", None, "construction", "gas", None, 100, 40, {"late": 40}),
    ]
    q = quality_section(hours, flagged, start=START, end=END, sector_ids=SECTORS)
    assert (q.overall.hours, q.overall.readings, q.overall.flagged) == (3, 2500, 40)
    assert q.overall.flagged_share == pytest.approx(0.016)
    assert q.overall.by_flag == {**NONE, "out_of_range": 20, "late": 10, "stuck": 15}
    assert list(q.overall.by_flag) == list(FLAGS)  # every flag, in bit order
    construction = q.by_sector["construction"]
    assert (construction.hours, construction.flagged_share) == (2, pytest.approx(0.02))
    assert q.by_sector["market"].flagged_share == 0.0
    assert [d.device_id for d in q.most_flagged] == ["gas-2", "gas-1"]
    assert q.most_flagged[0].flagged_share == pytest.approx(0.4)
    assert q.most_flagged[1].by_flag == {**NONE, "stuck": 25}
    empty = quality_section([], [], start=START, end=END, sector_ids=SECTORS)
    assert (empty.overall.readings, empty.overall.flagged_share) == (0, None)
