"""Calendar months in the district's time zone: parsing, windows, and that windows tile time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskwatch.reporting.reports.domain import Month, MonthError, ensure_begun, month_window

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Zones with odd offsets and DST (some switching near midnight) next to the district's own.
ZONES = [
    SHANGHAI,
    ZoneInfo("UTC"),
    ZoneInfo("America/New_York"),
    ZoneInfo("America/St_Johns"),
    ZoneInfo("America/Santiago"),
    ZoneInfo("Asia/Kathmandu"),
    ZoneInfo("Pacific/Kiritimati"),
    ZoneInfo("Pacific/Apia"),
]
instants = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
months = st.builds(Month, st.integers(1992, 2200), st.integers(1, 12))


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def test_a_shanghai_month_runs_from_16_00_utc_of_the_day_before() -> None:
    assert month_window("2026-11", SHANGHAI) == (utc(2026, 10, 31, 16), utc(2026, 11, 30, 16))
    assert month_window("2026-01", SHANGHAI) == (utc(2025, 12, 31, 16), utc(2026, 1, 31, 16))
    assert month_window("2026-12", SHANGHAI) == (utc(2026, 11, 30, 16), utc(2026, 12, 31, 16))
    assert month_window("2028-02", SHANGHAI) == (utc(2028, 1, 31, 16), utc(2028, 2, 29, 16))


def test_windows_follow_the_zone_rules_not_a_fixed_offset() -> None:
    # New York: EST on 1 March, EDT on 1 April.
    assert month_window("2026-03", ZoneInfo("America/New_York")) == (
        utc(2026, 3, 1, 5),
        utc(2026, 4, 1, 4),
    )
    # China kept summer time from 1986 to 1991.
    assert month_window("1987-05", SHANGHAI)[0] == utc(1987, 4, 30, 15)
    assert month_window("2026-11", ZoneInfo("UTC")) == (utc(2026, 11, 1), utc(2026, 12, 1))


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("2026-13", "does not exist"),
        ("2026-00", "does not exist"),
        ("2026-1", "must be YYYY-MM"),
        ("26-01", "must be YYYY-MM"),
        ("2026/01", "must be YYYY-MM"),
        ("2026-01 ", "must be YYYY-MM"),
        ("2026-01\n", "must be YYYY-MM"),
        ("\u0662\u0660\u0662\u0666-01", "must be YYYY-MM"),  # Arabic-Indic digits
        ("", "must be YYYY-MM"),
        ("1969-12", "out of range"),
        ("9999-12", "out of range"),
    ],
)
def test_malformed_months_are_refused_with_a_reason(text: str, says: str) -> None:
    with pytest.raises(MonthError, match=says):
        Month.parse(text)


def test_a_month_prints_as_it_parses() -> None:
    assert str(Month.parse("2026-03")) == "2026-03"
    assert Month.parse("2026-12").next() == Month(2027, 1)


def test_only_begun_months_can_be_reported() -> None:
    # 16:30 UTC on 31 October is already November in Shanghai, still October in UTC.
    now = utc(2026, 10, 31, 16, 30)
    ensure_begun(Month(2026, 11), SHANGHAI, now)
    ensure_begun(Month(2026, 10), ZoneInfo("UTC"), now)
    with pytest.raises(MonthError, match=r"has not begun in UTC; the latest month .* is 2026-10"):
        ensure_begun(Month(2026, 11), ZoneInfo("UTC"), now)
    with pytest.raises(MonthError, match="2027-01 has not begun"):
        ensure_begun(Month(2027, 1), SHANGHAI, now)


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        Month.of(datetime(2026, 11, 1), SHANGHAI)


@given(instants, st.sampled_from(ZONES))
def test_an_instant_belongs_to_exactly_one_month(instant: datetime, tz: ZoneInfo) -> None:
    month = Month.of(instant, tz)
    start, end = month.window(tz)
    assert start <= instant < end
    # Its neighbours' windows do not contain it, and they touch this one without a gap.
    previous = Month(month.year - (month.month == 1), (month.month - 2) % 12 + 1)
    assert previous.next() == month
    assert previous.window(tz)[1] == start
    assert month.next().window(tz)[0] == end
    assert not previous.window(tz)[0] <= instant < start
    assert not end <= instant < month.next().window(tz)[1]


@given(months)
def test_every_shanghai_month_starts_at_16_00_utc_the_day_before(month: Month) -> None:
    start, end = month.window(SHANGHAI)
    first_local = datetime(month.year, month.month, 1, tzinfo=UTC)
    assert start == first_local - timedelta(hours=8)
    assert (start.hour, start.minute, start.second) == (16, 0, 0)
    assert end == month.next().window(SHANGHAI)[0]
    assert timedelta(days=28) <= end - start <= timedelta(days=31)
