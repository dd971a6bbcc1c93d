"""The work orders section: stage timeliness, overdue and false-alarm shares, breakdowns by unit,
sector and town. An exact month worked out by hand, then properties over any orders."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskwatch.common.events.workorders import STAGES
from riskwatch.reporting.reports.domain import (
    NO_KEY,
    Month,
    MonthlyReport,
    StageStats,
    WorkOrderFact,
    WorkOrderSection,
    WorkOrderStats,
    monthly_report,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
MIN = timedelta(minutes=1)
H = timedelta(hours=1)


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def report(now: datetime, work_orders: Sequence[WorkOrderFact]) -> MonthlyReport:
    return monthly_report(
        "2026-10",
        SHANGHAI,
        now,
        sector_ids=["construction"],
        alarms=[],
        work_orders=work_orders,
        notifications=[],
        shifts=[],
        rosters=[],
    )


AFTER = local(2026, 11, 5)


def order(
    created: datetime,
    *,
    done: Sequence[int | None] = (),
    false_alarm: bool = False,
    rule_id: str | None = "r1",
    unit_id: str | None = "u1",
    sector_id: str = "construction",
    town_id: str | None = "lujiazui",
    limits: bool = True,
) -> WorkOrderFact:
    """Limits 15 / 60 / 120 / 180 / 240 minutes from creation; `done`: the minutes after creation
    at which accept, on_site, clear, feedback and close were completed (None: not)."""
    at = [None if m is None else created + m * MIN for m in (*done, *[None] * (5 - len(done)))]
    deadlines = dict(zip(STAGES, (created + m * MIN for m in (15, 60, 120, 180, 240)), strict=True))
    return WorkOrderFact(
        created,
        created + 4 * H,
        at[4],
        accepted_at=at[0],
        on_site_at=at[1],
        cleared_at=at[2],
        feedback_at=at[3],
        deadlines=deadlines if limits else {},
        false_alarm=false_alarm,
        rule_id=rule_id,
        unit_id=unit_id,
        sector_id=sector_id,
        town_id=town_id,
    )


def stats(section: WorkOrderStats) -> tuple[object, ...]:
    s = section
    return (s.created, s.closed, s.overdue, s.overdue_share, s.false_alarms, s.false_alarm_share)


def test_a_month_of_orders_worked_out_by_hand() -> None:
    day = local(2026, 10, 8, 9)
    w = report(
        AFTER,
        [
            # A: every stage on time.
            order(day, done=(10, 50, 100, 150, 200)),
            # B: every stage late, closed after due_at: overdue.
            order(day, done=(20, 70, 130, 190, 300)),
            # C: accepted, then closed as a false alarm after half an hour.
            order(
                day,
                done=(5, None, None, None, 30),
                false_alarm=True,
                rule_id="r2",
                unit_id="u2",
                sector_id="emergency",
                town_id=None,
            ),
            # D: accepted at its limit exactly (on time), never closed: overdue.
            order(day, done=(15,), rule_id=None, unit_id=None, town_id="zhangjiang"),
            # E: created in October's last hour, due after the cut-off: open, not overdue.
            order(local(2026, 10, 31, 23), unit_id="u2", town_id="zhangjiang"),
            # F: September's.
            order(local(2026, 9, 30, 23), done=(500, 500, 500, 500, 500)),
        ],
    ).work_orders
    assert isinstance(w, WorkOrderSection)
    assert (w.created, w.closed, w.open, w.closed_on_time, w.closed_late) == (5, 3, 2, 2, 1)
    assert (w.overdue_open, w.on_time_rate) == (1, 2 / 3)
    # Overdue: B (closed late) and D (never closed, due before the cut-off): 2 of 5.
    assert (w.overdue, w.overdue_share) == (2, 0.4)
    assert (w.false_alarms, w.false_alarm_share, w.false_alarms_by_rule) == (1, 0.2, {"r2": 1})
    assert list(w.stages) == ["accept", "on_site", "clear", "feedback", "close"]
    assert w.stages == {
        # Accepted after 300, 600, 900, 1200 s; B's 20 minutes is the late one.
        "accept": StageStats(4, 3, 1, 0.75, 600.0, 1200.0),
        "on_site": StageStats(2, 1, 1, 0.5, 3000.0, 4200.0),
        "clear": StageStats(2, 1, 1, 0.5, 6000.0, 7800.0),
        "feedback": StageStats(2, 1, 1, 0.5, 9000.0, 11400.0),
        # Closed after 1800, 12000, 18000 s.
        "close": StageStats(3, 2, 1, 2 / 3, 12000.0, 18000.0),
    }
    assert {k: stats(s) for k, s in w.by_unit.items()} == {
        NO_KEY: (1, 0, 1, 1.0, 0, 0.0),
        "u1": (2, 2, 1, 0.5, 0, 0.0),
        "u2": (2, 1, 0, 0.0, 1, 0.5),
    }
    assert {k: stats(s) for k, s in w.by_town.items()} == {
        "lujiazui": (2, 2, 1, 0.5, 0, 0.0),
        NO_KEY: (1, 1, 0, 0.0, 1, 1.0),
        "zhangjiang": (2, 0, 1, 0.5, 0, 0.0),
    }
    assert {k: stats(s) for k, s in w.by_sector.items()} == {
        "construction": (4, 2, 2, 0.5, 0, 0.0),
        "emergency": (1, 1, 0, 0.0, 1, 1.0),
    }
    assert w.by_unit["u2"].false_alarms_by_rule == {"r2": 1}
    assert w.by_unit["u1"].stages["accept"] == StageStats(2, 1, 1, 0.5, 600.0, 1200.0)


def test_the_month_in_progress_counts_what_happened_before_now() -> None:
    now = local(2026, 10, 20, 12)
    w = report(
        now,
        [
            # Accepted before now, closed after it: open, and not yet due.
            order(local(2026, 10, 20, 9), done=(10, None, None, None, 240)),
            # Due at 13:00 on the 19th, closed on the 21st: open and overdue as of now.
            order(local(2026, 10, 19, 9), done=(5, None, None, None, 2 * 24 * 60)),
        ],
    ).work_orders
    assert (w.created, w.closed, w.overdue_open, w.overdue, w.overdue_share) == (2, 0, 1, 1, 0.5)
    assert w.stages["accept"].completed == 2
    assert w.stages["close"] == StageStats(0, 0, 0, None, None, None)


def test_orders_from_before_stage_limits_are_timed_but_not_judged() -> None:
    w = report(AFTER, [order(local(2026, 10, 8), done=(30, 60, 90, 120, 150), limits=False)])
    assert w.work_orders.stages["accept"] == StageStats(1, 0, 0, None, 1800.0, 1800.0)
    # The close stage is judged by due_at, which every order has.
    assert w.work_orders.stages["close"] == StageStats(1, 1, 0, 1.0, 9000.0, 9000.0)


def test_no_order_no_share() -> None:
    w = report(AFTER, []).work_orders
    assert (w.created, w.overdue, w.overdue_share, w.false_alarm_share) == (0, 0, None, None)
    assert (w.by_unit, w.by_sector, w.by_town, w.false_alarms_by_rule) == ({}, {}, {}, {})
    assert all(s == StageStats(0, 0, 0, None, None, None) for s in w.stages.values())


# -- properties ----------------------------------------------------------------------------

START, END = Month(2026, 10).window(SHANGHAI)
times = st.datetimes(
    min_value=datetime(2026, 9, 20), max_value=datetime(2026, 11, 10), timezones=st.just(UTC)
)
# From creation: negative ones are a clock skew the report must survive.
offsets = st.none() | st.integers(min_value=-60, max_value=60 * 24 * 20).map(lambda m: m * MIN)
keys = st.sampled_from([None, "a", "b", "c"])


@st.composite
def work_orders(draw: st.DrawFn) -> WorkOrderFact:
    created = draw(times)

    def maybe_after() -> datetime | None:
        offset = draw(offsets)
        return None if offset is None else created + offset

    deadlines = {stage: at for stage in STAGES if (at := maybe_after()) is not None}
    return WorkOrderFact(
        created_at=created,
        due_at=created + draw(st.integers(min_value=0, max_value=60 * 24 * 10)) * MIN,
        closed_at=maybe_after(),
        accepted_at=maybe_after(),
        on_site_at=maybe_after(),
        cleared_at=maybe_after(),
        feedback_at=maybe_after(),
        deadlines=deadlines,
        false_alarm=draw(st.booleans()),
        rule_id=draw(keys),
        unit_id=draw(keys),
        sector_id=draw(st.sampled_from(["construction", "emergency"])),
        town_id=draw(keys),
    )


nows = st.datetimes(
    min_value=START.replace(tzinfo=None), max_value=datetime(2026, 12, 1), timezones=st.just(UTC)
)


def is_overdue(w: WorkOrderFact, as_of: datetime) -> bool:
    """超时处置, one order at a time: closed after its due time, or, not closed by the cut-off,
    past its due time already."""
    if w.closed_at is not None and w.closed_at < as_of:
        return w.closed_at > w.due_at
    return w.due_at < as_of


@given(st.lists(work_orders(), max_size=40), nows)
def test_the_overdue_share_counts_each_overdue_order(
    orders: list[WorkOrderFact], now: datetime
) -> None:
    r = report(now, orders)
    created = [w for w in orders if START <= w.created_at < END]
    expected = sum(is_overdue(w, r.as_of) for w in created)
    w = r.work_orders
    assert w.created == len(created)
    assert w.overdue == expected
    if created:
        assert w.overdue_share is not None
        assert w.overdue_share * len(created) == pytest.approx(expected)
    else:
        assert w.overdue_share is None
    false_alarms = sum(
        x.false_alarm and x.closed_at is not None and x.closed_at < r.as_of for x in created
    )
    assert w.false_alarms == false_alarms
    assert sum(w.false_alarms_by_rule.values()) == false_alarms


@given(st.lists(work_orders(), max_size=40), nows)
def test_each_stage_counts_completions_before_the_cut_off(
    orders: list[WorkOrderFact], now: datetime
) -> None:
    r = report(now, orders)
    created = [w for w in orders if START <= w.created_at < END]
    w = r.work_orders
    for stage in STAGES:
        s = w.stages[stage]
        done = [x.completed_at(stage) for x in created]
        seconds = [
            max((at - x.created_at).total_seconds(), 0.0)
            for x, at in zip(created, done, strict=True)
            if at is not None and at < r.as_of
        ]
        assert s.completed == len(seconds)
        assert s.on_time + s.late <= s.completed
        for p, value in ((50, s.time_to_complete_p50_s), (90, s.time_to_complete_p90_s)):
            if not seconds:
                assert value is None
                continue
            # The nearest rank: one of the times, at least p% at or below it, fewer below.
            assert value in seconds
            assert sum(t <= value for t in seconds) * 100 >= p * len(seconds)
            assert sum(t < value for t in seconds) * 100 < p * len(seconds)
        rate = s.on_time_rate
        assert (rate is None) == (s.on_time + s.late == 0)
        assert rate is None or 0.0 <= rate <= 1.0
    assert w.stages["close"].completed == w.closed
    assert (w.stages["close"].on_time, w.stages["close"].late) == (w.closed_on_time, w.closed_late)
    assert w.overdue == w.closed_late + w.overdue_open


@given(st.lists(work_orders(), max_size=40), nows)
def test_every_breakdown_adds_up_to_the_whole(orders: list[WorkOrderFact], now: datetime) -> None:
    w = report(now, orders).work_orders
    for breakdown in (w.by_unit, w.by_sector, w.by_town):
        assert list(breakdown) == sorted(breakdown)
        parts = list(breakdown.values())
        assert all(p.created > 0 for p in parts)
        for name in ("created", "closed", "open", "overdue", "overdue_open", "false_alarms"):
            assert sum(getattr(p, name) for p in parts) == getattr(w, name), name
        for stage in STAGES:
            total = sum(p.stages[stage].completed for p in parts)
            assert total == w.stages[stage].completed
    assert set(w.by_unit) <= {"a", "b", "c", NO_KEY}
