"""The weekly overdue bulletin's pure part: which week, and what each unit had overdue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from riskwatch.workorder.workorders.bulletin import (
    OrderFact,
    bulletin_units,
    last_week,
    week_starting,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Monday 2026-11-23 00:00 in Shanghai is Sunday 16:00 UTC.
MONDAY = datetime(2026, 11, 23, tzinfo=SHANGHAI)
H = timedelta(hours=1)


def test_last_week_is_monday_to_monday_local() -> None:
    wednesday = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
    assert last_week(wednesday, SHANGHAI) == (MONDAY - timedelta(days=7), MONDAY)
    # A minute after Monday 00:00 local (still Sunday in UTC): the week just ended.
    just_after = datetime(2026, 11, 22, 16, 1, tzinfo=UTC)
    assert last_week(just_after, SHANGHAI) == (MONDAY - timedelta(days=7), MONDAY)
    assert week_starting(wednesday, SHANGHAI) == (MONDAY, MONDAY + timedelta(days=7))


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)))
def test_last_week_always_ends_at_the_monday_before_now(naive: datetime) -> None:
    now = naive.replace(tzinfo=UTC)
    start, end = last_week(now, SHANGHAI)
    local_end = end.astimezone(SHANGHAI)
    assert (local_end.weekday(), local_end.hour) == (0, 0)
    assert end <= now < end + timedelta(days=7)
    assert end - start == timedelta(days=7)


def fact(
    wid: str,
    unit: str | None,
    created: datetime,
    due: datetime,
    closed: datetime | None = None,
    stage_due: datetime | None = None,
) -> OrderFact:
    return OrderFact(wid, unit, created, stage_due, due, closed)


def test_units_list_their_overdue_and_late_orders() -> None:
    start, end = MONDAY - timedelta(days=7), MONDAY
    orders = [
        fact("on-time", "u1", start + H, start + 5 * H, closed=start + 2 * H),
        fact("late", "u1", start + H, start + 2 * H, closed=start + 3 * H),
        fact("open-past-close", "u1", start + H, start + 2 * H),
        fact("open-stage-past", "u2", start + H, end + 5 * H, stage_due=start + 3 * H),
        fact("open-in-time", "u2", start + H, end + 5 * H, stage_due=end + H),
        fact("late-last-week", "u2", start - 50 * H, start - 40 * H, closed=start - 30 * H),
        fact("closed-late-after", "u2", start + H, start + 2 * H, closed=end + H),
        fact("next-week", "u3", end + H, end + 2 * H),
        fact("no-unit", None, start + H, start + 2 * H),
    ]
    units = {u.unit_id: u for u in bulletin_units(orders, start, end)}
    assert set(units) == {"u1", "u2", "none"}
    assert (units["u1"].overdue_open, units["u1"].closed_late) == (1, 1)
    assert units["u1"].work_order_ids == ["late", "open-past-close"]
    # Closed after the week's end: at the week's end it was still open and overdue.
    assert (units["u2"].overdue_open, units["u2"].closed_late) == (2, 0)
    assert units["u2"].work_order_ids == ["closed-late-after", "open-stage-past"]
    assert units["none"].overdue_open == 1
