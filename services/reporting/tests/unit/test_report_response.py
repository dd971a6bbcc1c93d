"""The monthly report's reach and acknowledgement: an exact month of escalated alarms, the
nearest-rank percentile, then properties over any alarms and notifications."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskwatch.common.events.base import Level
from riskwatch.reporting.reports.domain import (
    ACK_VIAS,
    CHANNELS,
    LEVELS,
    AlarmFact,
    AlarmNotificationFact,
    Month,
    ResponseSection,
    ResponseStats,
    alarm_outcome,
    monthly_report,
    nearest_rank,
    response_stats,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
S = timedelta(seconds=1)
STREET, SECTOR, DISTRICT = "street-lujiazui", "sector-construction", "district"


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A wall-clock time in the district."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def response(now: datetime, alarms: Sequence[AlarmFact]) -> ResponseSection:
    return monthly_report(
        "2026-10",
        SHANGHAI,
        now,
        sector_ids=[],
        alarms=alarms,
        work_orders=[],
        notifications=[],
        shifts=[],
        rosters=[],
    ).response


def stats(
    alarms: int,
    reached: int,
    acknowledged: int,
    p50: float | None = None,
    p90: float | None = None,
    **via: int,
) -> ResponseStats:
    return ResponseStats(
        alarms=alarms,
        reached=reached,
        reach_rate=reached / alarms if alarms else None,
        acknowledged=acknowledged,
        acknowledgement_rate=acknowledged / alarms if alarms else None,
        time_to_acknowledge_p50_s=p50,
        time_to_acknowledge_p90_s=p90,
        acknowledged_via={"api": 0, "sms": 0, "voice": 0, **via},
    )


AFTER = local(2026, 11, 5)  # October is over: it is read as of its last instant
R = local(2026, 10, 2, 10)  # when most of October's alarms are raised
N = AlarmNotificationFact


def alarm(alarm_id: str, level: Level, *notifications: N, raised_at: datetime = R) -> AlarmFact:
    return AlarmFact(
        alarm_id,
        "construction",
        level.value,
        raised_at,
        notified=bool(notifications),
        notifications=notifications,
    )


LATE = local(2026, 10, 31, 23, 50)  # ten minutes before October ends
OCTOBER = [
    # Red, escalated: in-app delivered, an SMS sent with no receipt, the group robot; the voice
    # reminder (+3 min) is acknowledged by keypress; the department head's SMS (+10 min) is
    # delivered and acknowledged by reply, later.
    alarm(
        "red-1",
        Level.RED,
        N(STREET, "in_app", R, delivered_at=R + 10 * S),
        N(STREET, "sms", R),
        N(STREET, "webhook", R, delivered_at=R + S),
        N(STREET, "voice", R + 180 * S, acknowledged_at=R + 180 * S, acknowledged_via="voice"),
        N(
            SECTOR,
            "sms",
            R + 600 * S,
            delivered_at=R + 610 * S,
            acknowledged_at=R + 700 * S,
            acknowledged_via="sms",
        ),
    ),
    # Red: an SMS the provider took without a delivery receipt, and the group robot: nobody
    # is known to have been reached.
    alarm("red-2", Level.RED, N(STREET, "sms", R), N(STREET, "webhook", R, delivered_at=R)),
    # Red: acknowledged by a clock two seconds behind alerting's: at once, not -2 s.
    alarm(
        "red-3",
        Level.RED,
        N(DISTRICT, "in_app", R - 2 * S, acknowledged_at=R - 2 * S, acknowledged_via="api"),
    ),
    # Orange: acknowledged in the app before any delivery receipt: reached all the same.
    alarm(
        "orange",
        Level.ORANGE,
        N(SECTOR, "in_app", R, acknowledged_at=R + 60 * S, acknowledged_via="api"),
    ),
    # Yellow, raised just before the month ends: delivered in October, acknowledged in
    # November (too late for October), its next step went to the sector in November.
    alarm(
        "yellow",
        Level.YELLOW,
        N(
            DISTRICT,
            "sms",
            LATE,
            delivered_at=LATE + 60 * S,
            acknowledged_at=local(2026, 11, 1, 0, 10),
            acknowledged_via="sms",
        ),
        N(SECTOR, "voice", local(2026, 11, 1, 0, 5)),
        raised_at=LATE,
    ),
    alarm("blue", Level.BLUE),  # notify made no notification of it
    # September's, acknowledged: not October's.
    alarm(
        "red-sep",
        Level.RED,
        N(STREET, "in_app", R, acknowledged_at=R, acknowledged_via="api"),
        raised_at=local(2026, 9, 30, 23, 59),
    ),
]


def test_an_escalated_month_overall() -> None:
    # Acknowledged after 0 s (red-3), 60 s (orange), 180 s (red-1): nearest rank of 3 times,
    # p50 the 2nd, p90 the 3rd.
    assert response(AFTER, OCTOBER).overall == stats(6, 4, 3, 60.0, 180.0, api=2, voice=1)


def test_by_level_red_first() -> None:
    by_level = response(AFTER, OCTOBER).by_level
    assert list(by_level) == ["red", "orange", "yellow", "blue"]
    assert by_level == {
        "red": stats(3, 2, 2, 0.0, 180.0, api=1, voice=1),
        "orange": stats(1, 1, 1, 60.0, 60.0, api=1),
        "yellow": stats(1, 1, 0),
        "blue": stats(1, 0, 0),
    }


def test_by_duty_center_from_its_own_notifications() -> None:
    assert response(AFTER, OCTOBER).by_duty_center == {
        # red-3, and the yellow alarm delivered but acknowledged only in November.
        DISTRICT: stats(2, 2, 1, 0.0, 0.0, api=1),
        # red-1 from its department head's acknowledgement (700 s), not the street's (180 s);
        # not the yellow alarm, whose step for the sector went out in November.
        SECTOR: stats(2, 2, 2, 60.0, 700.0, api=1, sms=1),
        STREET: stats(2, 1, 1, 180.0, 180.0, voice=1),
    }


def test_the_month_in_progress_counts_what_happened_until_now() -> None:
    now = R + 120 * S
    r = response(now, [a for a in OCTOBER if a.alarm_id in {"red-1", "orange"}])
    # red-1 was delivered in the app but is not acknowledged yet; the sector's step is to come.
    assert r.overall == stats(2, 2, 1, 60.0, 60.0, api=1)
    assert r.by_duty_center == {SECTOR: stats(1, 1, 1, 60.0, 60.0, api=1), STREET: stats(1, 1, 0)}


def test_a_month_without_alarms_has_no_rates() -> None:
    r = response(AFTER, [])
    assert r.overall == stats(0, 0, 0)
    assert r.by_level == dict.fromkeys(["red", "orange", "yellow", "blue"], stats(0, 0, 0))
    assert r.by_duty_center == {}


def test_a_level_this_build_does_not_know_comes_last() -> None:
    r = response(AFTER, [AlarmFact("a", "construction", "purple", R)])
    assert list(r.by_level) == ["red", "orange", "yellow", "blue", "purple"]
    assert r.by_level["purple"] == stats(1, 0, 0)


@pytest.mark.parametrize(
    ("values", "p50", "p90"),
    [
        ([], None, None),
        ([7.0], 7.0, 7.0),
        ([3.0, 1.0], 1.0, 3.0),
        ([float(v) for v in range(10, 0, -1)], 5.0, 9.0),
        ([float(v) for v in range(1, 21)], 10.0, 18.0),
        ([float(v) for v in range(1, 12)], 6.0, 10.0),  # ranks ceil(5.5) = 6, ceil(9.9) = 10
    ],
)
def test_nearest_rank(values: list[float], p50: float | None, p90: float | None) -> None:
    assert (nearest_rank(values, 50), nearest_rank(values, 90)) == (p50, p90)


@pytest.mark.parametrize("percent", [0, -5, 101])
def test_a_percentile_out_of_range_is_refused(percent: int) -> None:
    with pytest.raises(ValueError, match="percentile"):
        nearest_rank([1.0], percent)


# -- properties ----------------------------------------------------------------------------

MONTH = Month(2026, 10)
START, END = MONTH.window(SHANGHAI)
times = st.datetimes(
    min_value=datetime(2026, 9, 20), max_value=datetime(2026, 11, 10), timezones=st.just(UTC)
)
maybe_times = st.none() | times
notifications = st.builds(
    AlarmNotificationFact,
    st.sampled_from([STREET, SECTOR, DISTRICT]),
    st.sampled_from([*CHANNELS, "fax"]),
    times,
    maybe_times,
    maybe_times,
    st.none() | st.sampled_from([*ACK_VIAS, "pigeon"]),
)
alarm_facts = st.builds(
    AlarmFact,
    st.text("abcdef0123456789-", min_size=1, max_size=12),
    st.just("construction"),
    st.sampled_from([*LEVELS, "purple"]),
    times,
    maybe_times,
    st.booleans(),
    st.lists(notifications, max_size=8).map(tuple),
)
nows = st.datetimes(
    min_value=START.replace(tzinfo=None), max_value=datetime(2026, 12, 1), timezones=st.just(UTC)
)


@given(st.lists(st.floats(-1e9, 1e9), max_size=50), st.integers(1, 100))
def test_nearest_rank_is_a_value_with_enough_values_at_or_below_it(
    values: list[float], percent: int
) -> None:
    got = nearest_rank(values, percent)
    if not values:
        assert got is None
        return
    assert got in values
    n = len(values)
    # At least percent% of the values are <= it, and fewer than percent% are below it.
    assert 100 * sum(v <= got for v in values) >= percent * n
    assert 100 * sum(v < got for v in values) < percent * n
    higher = nearest_rank(values, min(percent + 10, 100))
    assert higher is not None
    assert got <= higher


def _consistent(s: ResponseStats) -> None:
    assert 0 <= s.acknowledged <= s.reached <= s.alarms
    assert sum(s.acknowledged_via.values()) == s.acknowledged
    assert list(s.acknowledged_via)[:3] == list(ACK_VIAS)
    if s.alarms == 0:
        assert s.reach_rate is s.acknowledgement_rate is None
    else:
        assert s.reach_rate == s.reached / s.alarms
        assert s.acknowledgement_rate == s.acknowledged / s.alarms
    if s.acknowledged == 0:
        assert s.time_to_acknowledge_p50_s is s.time_to_acknowledge_p90_s is None
    else:
        assert s.time_to_acknowledge_p50_s is not None
        assert s.time_to_acknowledge_p90_s is not None
        assert 0.0 <= s.time_to_acknowledge_p50_s <= s.time_to_acknowledge_p90_s


@given(st.lists(alarm_facts, max_size=30), nows)
def test_the_response_section_adds_up(alarms: list[AlarmFact], now: datetime) -> None:
    r = response(now, alarms)
    in_month = [a for a in alarms if START <= a.raised_at < END]
    assert r.overall.alarms == len(in_month)
    _consistent(r.overall)
    severity = sorted(Level, key=lambda level: level.rank, reverse=True)
    assert list(r.by_level)[:4] == [level.value for level in severity]
    for field in ("alarms", "reached", "acknowledged"):
        assert sum(getattr(s, field) for s in r.by_level.values()) == getattr(r.overall, field)
    for s in r.by_level.values():
        _consistent(s)
    assert list(r.by_duty_center) == sorted(r.by_duty_center)
    for s in r.by_duty_center.values():
        _consistent(s)
        assert 1 <= s.alarms <= r.overall.alarms
        assert s.acknowledged <= r.overall.acknowledged
        assert s.reached <= r.overall.reached


@given(st.lists(notifications, max_size=12), times, times)
def test_an_alarm_is_answered_overall_as_soon_as_one_center_answers_it(
    notified: list[AlarmNotificationFact], raised_at: datetime, as_of: datetime
) -> None:
    whole = alarm_outcome(raised_at, notified, as_of)
    parts = [
        alarm_outcome(raised_at, [n for n in notified if n.duty_center_id == center], as_of)
        for center in {n.duty_center_id for n in notified}
    ]
    assert whole.reached == any(p.reached for p in parts)
    timed = [p.seconds_to_acknowledge for p in parts if p.seconds_to_acknowledge is not None]
    assert whole.seconds_to_acknowledge == (min(timed) if timed else None)
    assert (whole.via is None) == (whole.seconds_to_acknowledge is None)
    assert whole.via is None or whole.via in {p.via for p in parts}


@given(st.lists(notifications, max_size=12), notifications, times, times, st.randoms())
def test_more_notifications_never_undo_an_answer_and_order_does_not_matter(
    notified: list[AlarmNotificationFact],
    one_more: AlarmNotificationFact,
    raised_at: datetime,
    as_of: datetime,
    rnd: random.Random,
) -> None:
    before = alarm_outcome(raised_at, notified, as_of)
    after = alarm_outcome(raised_at, [*notified, one_more], as_of)
    assert before.reached <= after.reached
    if before.seconds_to_acknowledge is not None:
        assert after.seconds_to_acknowledge is not None
        assert after.seconds_to_acknowledge <= before.seconds_to_acknowledge
    shuffled = list(notified)
    rnd.shuffle(shuffled)
    assert alarm_outcome(raised_at, shuffled, as_of) == before


@given(st.lists(notifications, max_size=12), times, times)
def test_only_delivery_to_a_person_or_an_acknowledgement_reaches(
    notified: list[AlarmNotificationFact], raised_at: datetime, as_of: datetime
) -> None:
    outcome = alarm_outcome(raised_at, notified, as_of)
    sent = [n for n in notified if n.sent_at < as_of]
    acked = [n for n in sent if n.acknowledged_at is not None and n.acknowledged_at < as_of]
    delivered = [
        n
        for n in sent
        if n.channel != "webhook" and n.delivered_at is not None and n.delivered_at < as_of
    ]
    assert outcome.reached == bool(acked or delivered)
    assert (outcome.seconds_to_acknowledge is not None) == bool(acked)
    assert response_stats([outcome]).acknowledged == len(acked[:1])
