"""Pure report math: calendar months in the district's time zone, and the monthly report.

No I/O and no framework: facts in, numbers out. A fact belongs to the month of one instant (an
alarm to its `raised_at`, a work order to its `created_at`, a notification to its `sent_at`, a
shift to its `starts_at`); states are read as of `min(month end, now)`, so a past month's report
does not change when it is generated again later — the office scores units on these numbers.
Two exceptions, for want of history in the projections: whether an alarm was ever notified, and
a roster's shifts, are read as they are now (a roster keeps only its newest version).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final, get_args
from zoneinfo import ZoneInfo

from riskwatch.common.events.base import Level
from riskwatch.common.events.notifications import Channel

LEVELS: Final[tuple[str, ...]] = tuple(level.value for level in Level)  # blue .. red
ALARM_STATUSES: Final[tuple[str, ...]] = ("active", "cleared")
CHANNELS: Final[tuple[str, ...]] = get_args(Channel)
MIN_YEAR, MAX_YEAR = 1970, 9998
UNREACHED_IDS_LISTED: Final = 50
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")

_Cutoff = Callable[[datetime | None], bool]  # "had this happened by the cut-off?"


class MonthError(ValueError):
    """A month that cannot be reported on: malformed, out of range, or not begun yet."""


@dataclass(frozen=True, slots=True, order=True)
class Month:
    """A calendar month; its window in a time zone is [local midnight of the 1st, of the next)."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        match = _MONTH.fullmatch(text)
        if match is None:
            raise MonthError(f"The month must be YYYY-MM, e.g. 2026-11; got {text!r}.")
        year, month = int(match[1]), int(match[2])
        if not 1 <= month <= 12:
            raise MonthError(f"Month {text!r} does not exist: months run from 01 to 12.")
        if not MIN_YEAR <= year <= MAX_YEAR:
            raise MonthError(
                f"Month {text!r} is out of range: years run from {MIN_YEAR} to {MAX_YEAR}."
            )
        return cls(year, month)

    @classmethod
    def of(cls, instant: datetime, tz: tzinfo) -> Month:
        """The month `instant` falls in, on the wall clock of `tz`."""
        local = _aware(instant).astimezone(tz)
        return cls(local.year, local.month)

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def start(self, tz: tzinfo) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=tz).astimezone(UTC)

    def window(self, tz: tzinfo) -> tuple[datetime, datetime]:
        """[start, end) in UTC; one month's end is the next one's start, so windows tile time."""
        return self.start(tz), self.next().start(tz)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def month_window(month: str | Month, tz: tzinfo) -> tuple[datetime, datetime]:
    """The UTC instants [start, end) of calendar month 'YYYY-MM' in `tz`."""
    return (Month.parse(month) if isinstance(month, str) else month).window(tz)


def ensure_begun(month: Month, tz: ZoneInfo, now: datetime) -> None:
    """A month that has not begun in the district has nothing to report."""
    current = Month.of(now, tz)
    if month > current:
        raise MonthError(
            f"Month {month} has not begun in {tz.key}; the latest month to report on is {current}."
        )


@dataclass(frozen=True, slots=True)
class AlarmFact:
    alarm_id: str
    sector_id: str
    level: str
    raised_at: datetime
    cleared_at: datetime | None = None
    notified: bool = False  # notify made at least one notification of it, whatever its outcome


@dataclass(frozen=True, slots=True)
class WorkOrderFact:
    created_at: datetime
    due_at: datetime
    closed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class NotificationFact:
    channel: str
    sent_at: datetime
    delivered_at: datetime | None = None
    gave_up_at: datetime | None = None  # failed with no retry left
    acknowledged_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ShiftFact:
    duty_center_id: str
    starts_at: datetime
    ends_at: datetime
    checked_in_at: datetime | None = None
    checked_in_late: bool | None = None  # as notify judged it; None before it said


@dataclass(frozen=True, slots=True)
class RosterFact:
    duty_center_id: str
    period_start: datetime
    period_end: datetime
    first_published_at: datetime


@dataclass(frozen=True, slots=True)
class AlarmSection:
    total: int
    by_level: dict[str, int]  # every level, blue to red
    by_sector: dict[str, int]  # every catalog sector, then any other sector seen
    by_status: dict[str, int]  # active / cleared as of the report's cut-off
    unreached: int  # raised before the cut-off, and no notification of it at all
    unreached_ids: list[str]  # the first UNREACHED_IDS_LISTED of them, sorted


@dataclass(frozen=True, slots=True)
class WorkOrderSection:
    created: int
    closed: int  # of those created, closed before the cut-off
    open: int  # created - closed
    closed_on_time: int  # closed_at <= due_at
    closed_late: int
    overdue_open: int  # open with due_at before the cut-off
    on_time_rate: float | None  # closed_on_time / closed; None when nothing closed


@dataclass(frozen=True, slots=True)
class NotificationSection:
    total: int
    by_channel: dict[str, int]  # every channel, then any other seen
    delivered: int  # reached the person (an acknowledgement proves delivery)
    failed: int  # notify gave up on it, and it was never delivered
    acknowledged: int
    pending: int  # no outcome yet, or a failure being retried: total - delivered - failed


@dataclass(frozen=True, slots=True)
class DutyCenterSection:
    """One duty center that had a shift overlapping the month."""

    duty_center_id: str
    shifts: int  # that started in the month before the cut-off
    checked_in: int  # of those, before the cut-off
    check_in_rate: float | None  # checked_in / shifts; None when no shift started
    late_check_ins: int  # of those checked in, late as notify judged it
    # In [month start, cut-off), the time no shift of the center covered.
    minutes_without_anyone_on_duty: float
    rosters: int  # whose period overlaps the month
    rosters_published_on_time: int  # first published no later than their period's start


@dataclass(frozen=True, slots=True)
class MonthlyReport:
    month: str
    timezone: str
    window_start: datetime
    window_end: datetime
    as_of: datetime  # states (cleared, closed, delivered) are read as of this instant
    generated_at: datetime
    alarms: AlarmSection
    work_orders: WorkOrderSection
    notifications: NotificationSection
    duty: list[DutyCenterSection]  # by duty_center_id


def monthly_report(
    month: str | Month,
    tz: ZoneInfo,
    now: datetime,
    *,
    sector_ids: Sequence[str],
    alarms: Iterable[AlarmFact],
    work_orders: Iterable[WorkOrderFact],
    notifications: Iterable[NotificationFact],
    shifts: Iterable[ShiftFact],
    rosters: Iterable[RosterFact],
) -> MonthlyReport:
    """The monthly operations report. Facts outside the month are ignored, so callers may
    over-fetch; `now` bounds the cut-off of the month in progress."""
    the_month = Month.parse(month) if isinstance(month, str) else month
    now = _aware(now)
    ensure_begun(the_month, tz, now)
    start, end = the_month.window(tz)
    as_of = min(end, now)

    def in_month(at: datetime) -> bool:
        return start <= at < end

    def by_cutoff(at: datetime | None) -> bool:
        return at is not None and at < as_of

    return MonthlyReport(
        month=str(the_month),
        timezone=tz.key,
        window_start=start,
        window_end=end,
        as_of=as_of,
        generated_at=now,
        alarms=_alarms([a for a in alarms if in_month(a.raised_at)], sector_ids, by_cutoff),
        work_orders=_work_orders([w for w in work_orders if in_month(w.created_at)], as_of),
        notifications=_notifications([n for n in notifications if in_month(n.sent_at)], by_cutoff),
        duty=_duty(list(shifts), list(rosters), start, end, as_of),
    )


def _alarms(alarms: list[AlarmFact], sector_ids: Sequence[str], by_cutoff: _Cutoff) -> AlarmSection:
    cleared = sum(by_cutoff(a.cleared_at) for a in alarms)
    unreached = sorted(a.alarm_id for a in alarms if by_cutoff(a.raised_at) and not a.notified)
    return AlarmSection(
        total=len(alarms),
        by_level=_counts(LEVELS, (a.level for a in alarms)),
        by_sector=_counts(sector_ids, (a.sector_id for a in alarms)),
        by_status={"active": len(alarms) - cleared, "cleared": cleared},
        unreached=len(unreached),
        unreached_ids=unreached[:UNREACHED_IDS_LISTED],
    )


def _work_orders(created: list[WorkOrderFact], as_of: datetime) -> WorkOrderSection:
    closed = [w for w in created if w.closed_at is not None and w.closed_at < as_of]
    on_time = sum(w.closed_at is not None and w.closed_at <= w.due_at for w in closed)
    still_open = [w for w in created if w.closed_at is None or w.closed_at >= as_of]
    return WorkOrderSection(
        created=len(created),
        closed=len(closed),
        open=len(still_open),
        closed_on_time=on_time,
        closed_late=len(closed) - on_time,
        overdue_open=sum(w.due_at < as_of for w in still_open),
        on_time_rate=on_time / len(closed) if closed else None,
    )


def _notifications(sent: list[NotificationFact], by_cutoff: _Cutoff) -> NotificationSection:
    acknowledged = delivered = failed = 0
    for n in sent:
        acked = by_cutoff(n.acknowledged_at)
        reached = acked or by_cutoff(n.delivered_at)
        acknowledged += acked
        delivered += reached
        failed += not reached and by_cutoff(n.gave_up_at)
    return NotificationSection(
        total=len(sent),
        by_channel=_counts(CHANNELS, (n.channel for n in sent)),
        delivered=delivered,
        failed=failed,
        acknowledged=acknowledged,
        pending=len(sent) - delivered - failed,
    )


def _duty(
    shifts: list[ShiftFact],
    rosters: list[RosterFact],
    start: datetime,
    end: datetime,
    as_of: datetime,
) -> list[DutyCenterSection]:
    """Per duty center with a shift overlapping [start, end): shifts that started before the
    cut-off and their check-ins, the time nobody was on duty until the cut-off, its rosters."""
    overlapping = [s for s in shifts if s.starts_at < end and s.ends_at > start]
    sections = []
    for center in sorted({s.duty_center_id for s in overlapping}):
        own = [s for s in overlapping if s.duty_center_id == center]
        started = [s for s in own if start <= s.starts_at < as_of]
        checked_in = [s for s in started if s.checked_in_at is not None and s.checked_in_at < as_of]
        planned = [
            r
            for r in rosters
            if r.duty_center_id == center and r.period_start < end and r.period_end > start
        ]
        uncovered = uncovered_time(((s.starts_at, s.ends_at) for s in own), start, as_of)
        sections.append(
            DutyCenterSection(
                duty_center_id=center,
                shifts=len(started),
                checked_in=len(checked_in),
                check_in_rate=len(checked_in) / len(started) if started else None,
                late_check_ins=sum(s.checked_in_late is True for s in checked_in),
                minutes_without_anyone_on_duty=uncovered / timedelta(minutes=1),
                rosters=len(planned),
                rosters_published_on_time=sum(
                    r.first_published_at <= r.period_start for r in planned
                ),
            )
        )
    return sections


def uncovered_time(
    intervals: Iterable[tuple[datetime, datetime]], start: datetime, end: datetime
) -> timedelta:
    """The time in [start, end) that no interval [from, to) covers: overlaps count once."""
    covered = timedelta(0)
    reach = start  # everything before it is already counted
    for lo, hi in sorted(intervals):
        lo, hi = max(lo, reach), min(hi, end)
        if lo < hi:
            covered += hi - lo
            reach = hi
    return max(end - start, timedelta(0)) - covered


def _counts(keys: Iterable[str], values: Iterable[str]) -> dict[str, int]:
    """Counts with every expected key present (0 when none), then unexpected keys sorted, so
    the parts always add up to the whole."""
    counted = Counter(values)
    result = dict.fromkeys(keys, 0)
    for key in result:
        result[key] = counted.pop(key, 0)
    result.update(sorted(counted.items()))
    return result


def _aware(instant: datetime) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("naive datetime: report instants must carry a time zone")
    return instant
