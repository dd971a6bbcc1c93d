"""The monthly report's numbers: exact cases, then properties over any facts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskwatch.common.catalog import default_catalog
from riskwatch.reporting.reports.domain import (
    CHANNELS,
    LEVELS,
    UNREACHED_IDS_LISTED,
    AlarmFact,
    Month,
    MonthError,
    MonthlyReport,
    NotificationFact,
    WorkOrderFact,
    monthly_report,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
SECTORS = default_catalog().sector_ids()
H = timedelta(hours=1)


def local(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    """A wall-clock time in the district."""
    return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI)


def report(
    now: datetime,
    alarms: Sequence[AlarmFact] = (),
    work_orders: Sequence[WorkOrderFact] = (),
    notifications: Sequence[NotificationFact] = (),
) -> MonthlyReport:
    return monthly_report(
        "2026-10",
        SHANGHAI,
        now,
        sector_ids=SECTORS,
        alarms=alarms,
        work_orders=work_orders,
        notifications=notifications,
        shifts=[],
        rosters=[],
    )


AFTER = local(2026, 11, 5)  # October is over: everything is read as of its last instant


def test_alarms_count_by_the_month_of_raised_at() -> None:
    r = report(
        AFTER,
        alarms=[
            AlarmFact("a1", "construction", "yellow", local(2026, 10, 1)),  # first instant: in
            AlarmFact("a2", "construction", "red", local(2026, 10, 15), local(2026, 10, 16)),
            # Cleared after the month ended: still active at its end.
            AlarmFact(
                "a3", "emergency", "blue", local(2026, 10, 31, 23, 59, 59), local(2026, 11, 1, 1)
            ),
            AlarmFact("a4", "emergency", "orange", local(2026, 9, 30, 23, 59, 59)),  # September
            AlarmFact("a5", "market", "red", local(2026, 11, 1)),  # November
            AlarmFact("a6", "retired-sector", "yellow", local(2026, 10, 10)),  # not in the catalog
        ],
    )
    a = r.alarms
    assert a.total == 4
    assert a.by_level == {"blue": 1, "yellow": 2, "orange": 0, "red": 1}
    assert list(a.by_level) == ["blue", "yellow", "orange", "red"]
    assert a.by_sector == {
        "emergency": 1,
        "construction": 2,
        "ecology": 0,
        "energy": 0,
        "public-security": 0,
        "market": 0,
        "power": 0,
        "retired-sector": 1,
    }
    assert a.by_status == {"active": 3, "cleared": 1}


def test_work_orders_count_by_created_at_and_are_read_at_month_end() -> None:
    def wo(created: datetime, due_in: timedelta, closed: datetime | None = None) -> WorkOrderFact:
        return WorkOrderFact(created, created + due_in, closed)

    r = report(
        AFTER,
        work_orders=[
            wo(local(2026, 10, 2, 9), 4 * H, local(2026, 10, 2, 11)),  # on time
            wo(local(2026, 10, 3, 9), 4 * H, local(2026, 10, 3, 15)),  # late
            wo(local(2026, 10, 4, 9), 4 * H, local(2026, 10, 4, 13)),  # at the deadline: on time
            wo(local(2026, 10, 5, 9), 4 * H),  # open and overdue
            wo(local(2026, 10, 31, 23), 4 * H),  # open, due after the month: not overdue
            wo(local(2026, 10, 20, 9), 4 * H, local(2026, 11, 2)),  # closed too late for October
            wo(local(2026, 9, 30, 9), 4 * H, local(2026, 10, 1)),  # created in September
        ],
    )
    w = r.work_orders
    assert (w.created, w.closed, w.open) == (6, 3, 3)
    assert (w.closed_on_time, w.closed_late, w.overdue_open) == (2, 1, 2)
    assert w.on_time_rate == pytest.approx(2 / 3)


def test_notifications_count_by_sent_at_with_their_best_outcome() -> None:
    oct2 = local(2026, 10, 2, 9)
    r = report(
        AFTER,
        notifications=[
            NotificationFact("sms", oct2, delivered_at=oct2 + H),
            NotificationFact("sms", oct2, gave_up_at=oct2 + H),
            NotificationFact("voice", oct2, delivered_at=oct2 + H, acknowledged_at=oct2 + 2 * H),
            NotificationFact("email", oct2, acknowledged_at=oct2 + H),  # ack proves delivery
            NotificationFact("in_app", local(2026, 10, 31, 23, 30), delivered_at=AFTER),
            # Given up on, then a late delivery receipt: delivered.
            NotificationFact("sms", oct2, delivered_at=oct2 + 2 * H, gave_up_at=oct2 + H),
            NotificationFact("sms", local(2026, 11, 1, 0, 0, 1), delivered_at=AFTER),  # November
            NotificationFact("wechat", oct2),  # a channel this build does not know
        ],
    )
    n = r.notifications
    assert n.total == 7
    assert n.by_channel == {
        "in_app": 1,
        "sms": 3,
        "voice": 1,
        "webhook": 0,
        "email": 1,
        "wechat": 1,
    }
    assert (n.delivered, n.failed, n.acknowledged, n.pending) == (4, 1, 2, 2)


def test_the_month_in_progress_is_read_as_of_now() -> None:
    now = local(2026, 10, 20, 12)
    r = report(
        now,
        alarms=[AlarmFact("a1", "power", "red", local(2026, 10, 19), local(2026, 10, 21))],
        work_orders=[
            WorkOrderFact(local(2026, 10, 10), local(2026, 10, 11), local(2026, 10, 25)),
            WorkOrderFact(local(2026, 10, 19), local(2026, 10, 22)),
        ],
    )
    assert r.as_of == now.astimezone(UTC)
    assert r.generated_at == now
    assert r.alarms.by_status == {"active": 1, "cleared": 0}
    w = r.work_orders
    assert (w.created, w.closed, w.open, w.overdue_open) == (2, 0, 2, 1)
    assert w.on_time_rate is None


def test_the_report_names_its_window_and_cut_off() -> None:
    r = report(AFTER)
    assert r.month == "2026-10"
    assert r.timezone == "Asia/Shanghai"
    assert r.window_start == datetime(2026, 9, 30, 16, tzinfo=UTC)
    assert r.window_end == r.as_of == datetime(2026, 10, 31, 16, tzinfo=UTC)
    assert r.alarms.total == 0
    assert set(r.alarms.by_sector) == set(SECTORS)
    assert r.notifications.by_channel == dict.fromkeys(CHANNELS, 0)


def test_alarms_nobody_was_notified_of_are_named_for_follow_up() -> None:
    r = report(
        local(2026, 10, 20, 12),
        alarms=[
            AlarmFact("a-told", "power", "red", local(2026, 10, 2), notified=True),
            AlarmFact("a-b", "power", "red", local(2026, 10, 3)),
            # Cleared without anyone told: still unreached.
            AlarmFact("a-a", "market", "blue", local(2026, 10, 4), local(2026, 10, 5)),
            AlarmFact("a-sep", "power", "red", local(2026, 9, 30)),  # September's
        ],
    )
    assert (r.alarms.unreached, r.alarms.unreached_ids) == (2, ["a-a", "a-b"])


def test_only_the_first_unreached_ids_are_listed() -> None:
    count = UNREACHED_IDS_LISTED + 7
    alarms = [AlarmFact(f"a-{i:03d}", "power", "red", local(2026, 10, 2)) for i in range(count)]
    r = report(AFTER, alarms=alarms[::-1])
    assert r.alarms.unreached == count
    assert r.alarms.unreached_ids == [f"a-{i:03d}" for i in range(UNREACHED_IDS_LISTED)]


def test_a_month_not_begun_has_no_report() -> None:
    with pytest.raises(MonthError, match="has not begun"):
        report(local(2026, 9, 30, 23, 59))


# -- properties ----------------------------------------------------------------------------

MONTH = Month(2026, 10)
START, END = MONTH.window(SHANGHAI)
times = st.datetimes(
    min_value=datetime(2026, 8, 1), max_value=datetime(2027, 1, 31), timezones=st.just(UTC)
)
maybe_times = st.none() | times
sector_ids = st.sampled_from([*SECTORS, "other"])
alarm_facts = st.builds(
    AlarmFact,
    st.text("abcdef0123456789-", min_size=1, max_size=12),
    sector_ids,
    st.sampled_from(LEVELS),
    times,
    maybe_times,
    st.booleans(),
)
work_order_facts = st.builds(WorkOrderFact, times, times, maybe_times)
notification_facts = st.builds(
    NotificationFact,
    st.sampled_from([*CHANNELS, "fax"]),
    times,
    maybe_times,
    maybe_times,
    maybe_times,
)
nows = st.datetimes(
    min_value=START.replace(tzinfo=None),
    max_value=datetime(2027, 3, 1),
    timezones=st.just(UTC),
)


@given(
    st.lists(alarm_facts, max_size=40),
    st.lists(work_order_facts, max_size=40),
    st.lists(notification_facts, max_size=40),
    nows,
)
def test_the_parts_always_add_up(
    alarms: list[AlarmFact],
    work_orders: list[WorkOrderFact],
    notifications: list[NotificationFact],
    now: datetime,
) -> None:
    r = report(now, alarms, work_orders, notifications)
    a, w, n = r.alarms, r.work_orders, r.notifications
    assert a.total == sum(1 for x in alarms if START <= x.raised_at < END)
    assert sum(a.by_level.values()) == a.total
    assert sum(a.by_sector.values()) == a.total
    assert sum(a.by_status.values()) == a.total
    assert list(a.by_level)[:4] == list(LEVELS)
    assert set(SECTORS) <= set(a.by_sector)
    assert 0 <= a.unreached <= a.total
    assert len(a.unreached_ids) == min(a.unreached, UNREACHED_IDS_LISTED)
    assert a.unreached_ids == sorted(a.unreached_ids)
    unreached = {x.alarm_id for x in alarms if START <= x.raised_at < END and not x.notified}
    assert set(a.unreached_ids) <= unreached

    assert w.created == sum(1 for x in work_orders if START <= x.created_at < END)
    assert w.open + w.closed == w.created
    assert w.closed_on_time + w.closed_late == w.closed
    assert 0 <= w.overdue_open <= w.open
    if w.closed == 0:
        assert w.on_time_rate is None
    else:
        assert w.on_time_rate is not None
        assert 0.0 <= w.on_time_rate <= 1.0

    assert n.delivered + n.failed + n.pending == n.total
    assert 0 <= n.acknowledged <= n.delivered
    assert sum(n.by_channel.values()) == n.total
    assert r.as_of == min(END, now)


@given(st.lists(alarm_facts, max_size=40), st.lists(work_order_facts, max_size=40))
def test_consecutive_months_count_each_fact_once(
    alarms: list[AlarmFact], work_orders: list[WorkOrderFact]
) -> None:
    later = datetime(2027, 6, 1, tzinfo=UTC)
    month, alarm_total, created_total = Month(2026, 8), 0, 0
    while month <= Month(2027, 1):
        r = monthly_report(
            month,
            SHANGHAI,
            later,
            sector_ids=SECTORS,
            alarms=alarms,
            work_orders=work_orders,
            notifications=[],
            shifts=[],
            rosters=[],
        )
        alarm_total += r.alarms.total
        created_total += r.work_orders.created
        month = month.next()
    first, last = Month(2026, 8).window(SHANGHAI)[0], Month(2027, 2).window(SHANGHAI)[0]
    assert alarm_total == sum(1 for a in alarms if first <= a.raised_at < last)
    assert created_total == sum(1 for w in work_orders if first <= w.created_at < last)
