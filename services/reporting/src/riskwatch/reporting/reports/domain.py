"""Pure report math: calendar months in the district's time zone, and the monthly report.

No I/O and no framework: facts in, numbers out. A fact belongs to the month of one instant (an
alarm to its `raised_at`, a work order to its `created_at`, a notification to its `sent_at`, a
shift to its `starts_at`); states are read as of `min(month end, now)`, so a past month's report
does not change when it is generated again later — the office scores units on these numbers.
Two exceptions, for want of history in the projections: whether an alarm was ever notified, and
a roster's shifts, are read as they are now (a roster keeps only its newest version).

Reach and acknowledgement (the `response` section) follow each alarm raised in the month through
its notifications, from every escalation step, center, person and channel, sent before the
cut-off. An alarm is REACHED when a notification of it to a person (any channel but a center's
group robot, which lands in a group chat) was delivered, or any of its notifications was
acknowledged: an acknowledgement proves delivery, a dispatch does not (an SMS the provider
accepted with no delivery receipt has not reached anyone). It is ACKNOWLEDGED when any of its
notifications was. Its TIME TO ACKNOWLEDGE is its first acknowledgement minus its `raised_at`
(the first raise: an alarm escalated to a higher level keeps it, and counts at its highest
level). Percentiles are by the nearest-rank method. Like every state, an acknowledgement counts
only before the cut-off: an alarm raised in a month's last minutes and acknowledged in the next
stays unacknowledged in its month's report, as a work order still open at the month's end does.

Work orders (the `work_orders` section) are those created in the month, read as of the cut-off.
A stage (accept, on_site, clear, feedback, close) is COMPLETED when the order first became
accepted, on_site, cleared, feedback (close: when it last became closed, if it is closed now)
before the cut-off; ON TIME when that was no later than the stage's deadline (close: `due_at`);
its TIME TO COMPLETE is that instant minus `created_at` (every limit counts from creation).
OVERDUE (超时处置) is closed after `due_at`, or not closed by the cut-off with `due_at` before it;
the OVERDUE SHARE is overdue / created. A FALSE ALARM is an order closed as one before the
cut-off; the FALSE-ALARM SHARE is false alarms / created. An order closed in a month and
reopened later counts as open when its month is generated again: the projection keeps its
current closing only, so this is the third state read as it is now.

Devices (the `devices` section: online rate and data quality) have their definitions in
reports/devices.py.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final, get_args
from zoneinfo import ZoneInfo

from riskwatch.common.events.base import Level
from riskwatch.common.events.notifications import AckVia, Channel
from riskwatch.common.events.workorders import STAGES, Stage
from riskwatch.reporting.reports.devices import DeviceFacts, DevicesSection, devices_section

LEVELS: Final[tuple[str, ...]] = tuple(level.value for level in Level)  # blue .. red
ALARM_STATUSES: Final[tuple[str, ...]] = ("active", "cleared")
CHANNELS: Final[tuple[str, ...]] = get_args(Channel)
ACK_VIAS: Final[tuple[str, ...]] = get_args(AckVia)
# The response section lists levels from the most serious down (red first), as the district
# reads them; the order comes from the enum's ranks.
LEVELS_BY_SEVERITY: Final[tuple[str, ...]] = tuple(
    level.value for level in sorted(Level, key=lambda level: level.rank, reverse=True)
)
# A center's group robot posts to a chat: delivered there, it has not reached a person.
NOT_TO_A_PERSON: Final[frozenset[str]] = frozenset({"webhook"})
# An acknowledgement projected without its channel (none should be: the migration that added
# it filled in the API, the only channel before issue 9).
UNKNOWN_VIA: Final = "unknown"
PERCENTILES: Final[tuple[int, ...]] = (50, 90)
MIN_YEAR, MAX_YEAR = 1970, 9998
UNREACHED_IDS_LISTED: Final = 50
# The key of work orders with no unit, town or rule in the work orders' breakdowns.
NO_KEY: Final = "none"
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
class AlarmNotificationFact:
    """One notification of an alarm, from whichever escalation step, to whichever center,
    person and channel, whatever month it went out in."""

    duty_center_id: str
    channel: str
    sent_at: datetime
    delivered_at: datetime | None = None
    acknowledged_at: datetime | None = None
    acknowledged_via: str | None = None  # AckVia


@dataclass(frozen=True, slots=True)
class AlarmFact:
    alarm_id: str
    sector_id: str
    level: str  # the highest it reached
    raised_at: datetime  # its first raise
    cleared_at: datetime | None = None
    notified: bool = False  # notify made at least one notification of it, whatever its outcome
    notifications: tuple[AlarmNotificationFact, ...] = ()


@dataclass(frozen=True, slots=True)
class WorkOrderFact:
    created_at: datetime
    due_at: datetime  # the close limit
    closed_at: datetime | None = None  # when it last became closed, if it is closed now
    # The first time it became each status that completes a stage.
    accepted_at: datetime | None = None
    on_site_at: datetime | None = None
    cleared_at: datetime | None = None
    feedback_at: datetime | None = None
    # Stage -> limit, as set at creation; may lack stages (orders from before they existed).
    deadlines: Mapping[Stage, datetime] = field(default_factory=dict)
    false_alarm: bool = False  # closed as a false alarm (when closed_at is set)
    rule_id: str | None = None
    unit_id: str | None = None  # the responsible duty center
    sector_id: str | None = None
    town_id: str | None = None

    def completed_at(self, stage: Stage) -> datetime | None:
        """When the order completed `stage` (see the module's definitions)."""
        match stage:
            case "accept":
                return self.accepted_at
            case "on_site":
                return self.on_site_at
            case "clear":
                return self.cleared_at
            case "feedback":
                return self.feedback_at
            case "close":
                return self.closed_at

    def deadline(self, stage: Stage) -> datetime | None:
        """The limit `stage` is judged by; the close stage's is always `due_at`."""
        return self.due_at if stage == "close" else self.deadlines.get(stage)


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
class StageStats:
    """One stage of a set of work orders (see the module's definitions)."""

    completed: int  # before the cut-off
    on_time: int  # completed no later than the stage's deadline
    late: int  # completed after it; completed - on_time - late had no deadline to judge by
    on_time_rate: float | None  # on_time / (on_time + late); None when none was judged
    # Nearest-rank percentiles of completion - created_at, in seconds; None when none completed.
    time_to_complete_p50_s: float | None
    time_to_complete_p90_s: float | None


@dataclass(frozen=True, slots=True)
class WorkOrderStats:
    created: int
    closed: int  # of those created, closed before the cut-off
    open: int  # created - closed
    closed_on_time: int  # closed_at <= due_at
    closed_late: int
    overdue_open: int  # open with due_at before the cut-off
    on_time_rate: float | None  # closed_on_time / closed; None when nothing closed
    overdue: int  # closed_late + overdue_open: 超时处置
    overdue_share: float | None  # overdue / created; None when none was created
    false_alarms: int  # closed as a false alarm before the cut-off
    false_alarm_share: float | None  # false_alarms / created; None when none was created
    false_alarms_by_rule: dict[str, int]  # by rule_id (NO_KEY: an order of no rule), sorted
    stages: dict[str, StageStats]  # every stage, in the loop's order


@dataclass(frozen=True, slots=True)
class WorkOrderSection(WorkOrderStats):
    """Every work order created in the month, then the same by responsible unit, by sector and
    by town: each key seen, sorted; NO_KEY for orders with no unit or town."""

    by_unit: dict[str, WorkOrderStats]
    by_sector: dict[str, WorkOrderStats]
    by_town: dict[str, WorkOrderStats]


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
class ResponseStats:
    """Reach and acknowledgement of a set of alarms (see the module's definitions)."""

    alarms: int
    reached: int
    reach_rate: float | None  # reached / alarms; None when there is no alarm
    acknowledged: int
    acknowledgement_rate: float | None  # acknowledged / alarms; None when there is no alarm
    # Nearest-rank percentiles of the acknowledged alarms' times to acknowledge, in seconds;
    # None when none was acknowledged.
    time_to_acknowledge_p50_s: float | None
    time_to_acknowledge_p90_s: float | None
    # The acknowledged alarms by the channel of their first acknowledgement: every AckVia, then
    # any other seen; adds up to `acknowledged`.
    acknowledged_via: dict[str, int]


@dataclass(frozen=True, slots=True)
class ResponseSection:
    """Reach and acknowledgement of the alarms raised in the month."""

    overall: ResponseStats
    by_level: dict[str, ResponseStats]  # every level, red to blue, then any other seen
    # Per duty center that a notification of these alarms was sent for, by id: its alarms are
    # those, reached / acknowledged through its own notifications, timed from its own first
    # acknowledgement.
    by_duty_center: dict[str, ResponseStats]


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
    response: ResponseSection
    devices: DevicesSection  # online rate and data quality (reports/devices.py)


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
    devices: DeviceFacts | None = None,
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

    raised = [a for a in alarms if in_month(a.raised_at)]
    return MonthlyReport(
        month=str(the_month),
        timezone=tz.key,
        window_start=start,
        window_end=end,
        as_of=as_of,
        generated_at=now,
        alarms=_alarms(raised, sector_ids, by_cutoff),
        work_orders=_work_orders([w for w in work_orders if in_month(w.created_at)], as_of),
        notifications=_notifications([n for n in notifications if in_month(n.sent_at)], by_cutoff),
        duty=_duty(list(shifts), list(rosters), start, end, as_of),
        response=_response(raised, as_of),
        devices=devices_section(
            devices or DeviceFacts(), start=start, end=end, as_of=as_of, sector_ids=sector_ids
        ),
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
    overall = work_order_stats(created, as_of)

    def by(key: Callable[[WorkOrderFact], str | None]) -> dict[str, WorkOrderStats]:
        groups: dict[str, list[WorkOrderFact]] = {}
        for w in created:
            groups.setdefault(key(w) or NO_KEY, []).append(w)
        return {k: work_order_stats(groups[k], as_of) for k in sorted(groups)}

    return WorkOrderSection(
        **{f.name: getattr(overall, f.name) for f in fields(WorkOrderStats)},
        by_unit=by(lambda w: w.unit_id),
        by_sector=by(lambda w: w.sector_id),
        by_town=by(lambda w: w.town_id),
    )


def work_order_stats(created: Sequence[WorkOrderFact], as_of: datetime) -> WorkOrderStats:
    """Timeliness, overdue and false alarms of these work orders, read as of `as_of` (the
    definitions are the module's)."""
    closed = [w for w in created if w.closed_at is not None and w.closed_at < as_of]
    on_time = sum(w.closed_at is not None and w.closed_at <= w.due_at for w in closed)
    still_open = [w for w in created if w.closed_at is None or w.closed_at >= as_of]
    overdue_open = sum(w.due_at < as_of for w in still_open)
    overdue = len(closed) - on_time + overdue_open
    false_alarms = Counter(w.rule_id or NO_KEY for w in closed if w.false_alarm)
    total = len(created)
    return WorkOrderStats(
        created=total,
        closed=len(closed),
        open=len(still_open),
        closed_on_time=on_time,
        closed_late=len(closed) - on_time,
        overdue_open=overdue_open,
        on_time_rate=on_time / len(closed) if closed else None,
        overdue=overdue,
        overdue_share=overdue / total if total else None,
        false_alarms=false_alarms.total(),
        false_alarm_share=false_alarms.total() / total if total else None,
        false_alarms_by_rule=dict(sorted(false_alarms.items())),
        stages={stage: stage_stats(created, stage, as_of) for stage in STAGES},
    )


def stage_stats(created: Iterable[WorkOrderFact], stage: Stage, as_of: datetime) -> StageStats:
    """How these work orders did at one stage by `as_of`."""
    seconds: list[float] = []
    on_time = late = 0
    for w in created:
        done = w.completed_at(stage)
        if done is None or done >= as_of:
            continue
        # Creation and completion come from one service's clock, but a skew cannot make a stage
        # finish before the order existed: such a time counts as immediate.
        seconds.append(max((done - w.created_at).total_seconds(), 0.0))
        deadline = w.deadline(stage)
        if deadline is not None:
            on_time += done <= deadline
            late += done > deadline
    p50, p90 = (nearest_rank(seconds, p) for p in PERCENTILES)
    judged = on_time + late
    return StageStats(
        completed=len(seconds),
        on_time=on_time,
        late=late,
        on_time_rate=on_time / judged if judged else None,
        time_to_complete_p50_s=p50,
        time_to_complete_p90_s=p90,
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


@dataclass(frozen=True, slots=True)
class AlarmOutcome:
    """What some notifications of one alarm achieved by the cut-off."""

    reached: bool
    seconds_to_acknowledge: float | None  # None: not acknowledged
    via: str | None  # of the first acknowledgement; None exactly when not acknowledged


def alarm_outcome(
    raised_at: datetime,
    notifications: Iterable[AlarmNotificationFact],
    as_of: datetime,
) -> AlarmOutcome:
    """Whether these notifications of an alarm raised at `raised_at` reached a person and were
    acknowledged before `as_of`, and how soon after the raise the first acknowledgement came.

    A notification sent at or after `as_of` does not count. Two acknowledgements at the same
    instant: the via first in alphabetical order, so the answer never depends on row order."""
    reached = False
    first: tuple[datetime, str] | None = None
    for n in notifications:
        if n.sent_at >= as_of:
            continue
        if n.acknowledged_at is not None and n.acknowledged_at < as_of:
            reached = True
            ack = (n.acknowledged_at, n.acknowledged_via or UNKNOWN_VIA)
            first = ack if first is None else min(first, ack)
        elif n.channel not in NOT_TO_A_PERSON:
            reached = reached or (n.delivered_at is not None and n.delivered_at < as_of)
    if first is None:
        return AlarmOutcome(reached, None, None)
    # Raise and acknowledgement are stamped by two services' clocks; an acknowledgement cannot
    # come before its alarm, so a skew that says it did counts as an immediate one.
    seconds = max((first[0] - raised_at).total_seconds(), 0.0)
    return AlarmOutcome(reached, seconds, first[1])


def nearest_rank(values: Iterable[float], percent: int) -> float | None:
    """The `percent`-th percentile by the nearest-rank method: the smallest value that at
    least `percent`% of the values are less than or equal to (the ceil(percent/100 x n)-th
    smallest); None for no value. Always one of the values, never an interpolation."""
    if not 0 < percent <= 100:
        raise ValueError(f"a percentile is in (0, 100]; got {percent}")
    ordered = sorted(values)
    if not ordered:
        return None
    # Integer arithmetic: ceil(percent * n / 100) without a float rounding the rank off by one.
    rank = -(-percent * len(ordered) // 100)
    return ordered[rank - 1]


def response_stats(outcomes: Sequence[AlarmOutcome]) -> ResponseStats:
    """Reach and acknowledgement of the alarms with these outcomes, one each."""
    total = len(outcomes)
    reached = sum(o.reached for o in outcomes)
    times = [o.seconds_to_acknowledge for o in outcomes if o.seconds_to_acknowledge is not None]
    p50, p90 = (nearest_rank(times, p) for p in PERCENTILES)
    return ResponseStats(
        alarms=total,
        reached=reached,
        reach_rate=reached / total if total else None,
        acknowledged=len(times),
        acknowledgement_rate=len(times) / total if total else None,
        time_to_acknowledge_p50_s=p50,
        time_to_acknowledge_p90_s=p90,
        acknowledged_via=_counts(ACK_VIAS, (o.via for o in outcomes if o.via is not None)),
    )


def _response(raised: list[AlarmFact], as_of: datetime) -> ResponseSection:
    overall = [alarm_outcome(a.raised_at, a.notifications, as_of) for a in raised]
    levels = [*LEVELS_BY_SEVERITY, *sorted({a.level for a in raised} - set(LEVELS_BY_SEVERITY))]
    by_center: dict[str, list[AlarmOutcome]] = {}
    for a in raised:
        own: dict[str, list[AlarmNotificationFact]] = {}
        for n in a.notifications:
            if n.sent_at < as_of:  # a center counts once a notification went out for it
                own.setdefault(n.duty_center_id, []).append(n)
        for center, notifications in own.items():
            by_center.setdefault(center, []).append(
                alarm_outcome(a.raised_at, notifications, as_of)
            )
    return ResponseSection(
        overall=response_stats(overall),
        by_level={
            level: response_stats(
                [o for a, o in zip(raised, overall, strict=True) if a.level == level]
            )
            for level in levels
        },
        by_duty_center={center: response_stats(by_center[center]) for center in sorted(by_center)},
    )


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
