"""Pure roster logic (排班): shift templates laid out over a period in the district's time zone,
rotations over the members, one-off overrides, and the checks a roster must pass before it is
published: a minute with nobody on duty, one person's overlapping shifts, one person on two
centers at once. No I/O, no framework imports.

Local times are wall-clock times in the district's zone; every shift is stored as UTC instants.
A shift "08:30-17:30" on the day of a DST change lasts what the wall clock says it lasts (an hour
more or less than usual), and consecutive templates always meet: the end of one and the start of
the next are the same local time, converted once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from riskwatch.notify.duty.domain import ShiftSpan


@dataclass(frozen=True, slots=True)
class ShiftTemplate:
    """A shift of every day: `name` (e.g. "day"), from `start` to `end` local time. An end at
    or before the start ends on the next day (a night shift 17:30-08:30)."""

    name: str
    start: time
    end: time

    def span_on(self, day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """The shift's UTC instants when it starts on `day`."""
        end_day = day if self.end > self.start else day + timedelta(days=1)
        return local_instant(day, self.start, tz), local_instant(end_day, self.end, tz)


@dataclass(frozen=True, slots=True)
class Override:
    """One shift given to someone other than the rotation's choice (a one-off change)."""

    day: date
    template: str
    person_id: str


@dataclass(frozen=True, slots=True)
class RosterSpec:
    """How a roster lays out its shifts: templates in the order of a day, the members taking
    turns slot by slot, and overrides."""

    templates: tuple[ShiftTemplate, ...]
    rotation: tuple[str, ...]
    overrides: tuple[Override, ...] = ()


def local_instant(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of wall-clock `at` on `day` in `tz`. A wall-clock time skipped by a DST
    change (02:30 when clocks jump from 02:00 to 03:00) is read with the offset before the
    change (fold=0), so it lands inside the hour that exists after it."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def shift_id(roster_id: str, day: date, template: str) -> str:
    return f"{roster_id}:{day:%Y%m%d}:{template}"


def lay_out(
    roster_id: str,
    duty_center_id: str,
    spec: RosterSpec,
    *,
    first_day: date,
    days: int,
    tz: ZoneInfo,
) -> list[ShiftSpan]:
    """The roster's shifts: for each day from `first_day`, each template in order; slot n
    (counted over the whole roster) goes to rotation[n % len(rotation)], unless an override
    names someone for that day and template. A slot with nobody (empty rotation, no override)
    is left out: validation then reports the gap."""
    overrides = {(o.day, o.template): o.person_id for o in spec.overrides}
    shifts: list[ShiftSpan] = []
    slot = 0
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        for template in spec.templates:
            person = overrides.get((day, template.name))
            if person is None and spec.rotation:
                person = spec.rotation[slot % len(spec.rotation)]
            slot += 1
            if person is None:
                continue
            starts_at, ends_at = template.span_on(day, tz)
            shifts.append(
                ShiftSpan(
                    shift_id=shift_id(roster_id, day, template.name),
                    duty_center_id=duty_center_id,
                    person_id=person,
                    starts_at=starts_at,
                    ends_at=ends_at,
                )
            )
    return shifts


def period_of(first_day: date, days: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The roster's period as UTC instants: local midnight of the first day to local midnight
    after the last."""
    return (
        local_instant(first_day, time(0), tz),
        local_instant(first_day + timedelta(days=days), time(0), tz),
    )


# -- validation -------------------------------------------------------------------------------


class ProblemKind(StrEnum):
    GAP = "gap"  # a stretch of the period with nobody on duty at the center
    OVERLAP = "overlap"  # one person on two shifts of this roster at once
    TWO_CENTERS = "two_centers"  # one person on duty at this center and another at once
    NOT_A_MEMBER = "not_a_member"  # a shift for someone who is not a member of the center


@dataclass(frozen=True, slots=True)
class RosterProblem:
    kind: ProblemKind
    starts_at: datetime
    ends_at: datetime
    person_id: str | None = None
    shift_ids: tuple[str, ...] = ()
    other_duty_center_id: str | None = None

    @property
    def minutes(self) -> float:
        return (self.ends_at - self.starts_at).total_seconds() / 60


def gaps(
    shifts: Iterable[ShiftSpan], *, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The stretches of [start, end) that no shift covers, in order; touching shifts leave no
    gap between them."""
    gaps_: list[tuple[datetime, datetime]] = []
    cursor = start
    for s in sorted(shifts, key=lambda s: (s.starts_at, s.ends_at)):
        if s.ends_at <= cursor or s.starts_at >= end:
            continue
        if s.starts_at > cursor:
            gaps_.append((cursor, s.starts_at))
        cursor = max(cursor, s.ends_at)
        if cursor >= end:
            break
    if cursor < end:
        gaps_.append((cursor, end))
    return gaps_


def roster_gaps(
    shifts: Sequence[ShiftSpan],
    neighbours: Iterable[ShiftSpan],
    *,
    start: datetime,
    end: datetime,
) -> list[tuple[datetime, datetime]]:
    """The stretches of a roster's period [start, end) with nobody on duty, once its `shifts`
    join the center's published `neighbours` (last week's night runs into this week's first
    morning). A roster starts with its first shift, not at local midnight: a stretch from the
    period's start to its first shift that nothing covers is no hole of this roster (before any
    roster, the center simply had none); one after a neighbour ends early is."""
    holes = gaps([*shifts, *neighbours], start=start, end=end)
    first = min((s.starts_at for s in shifts), default=end)
    if holes and holes[0][0] == start and holes[0][1] <= first:
        holes = holes[1:]
    return holes


def overlaps(shifts: Iterable[ShiftSpan]) -> list[tuple[ShiftSpan, ShiftSpan]]:
    """Pairs of one person's shifts that share an instant (touching is not overlapping), each
    pair once, earlier-starting first."""
    by_person: dict[str, list[ShiftSpan]] = defaultdict(list)
    for s in shifts:
        by_person[s.person_id].append(s)
    pairs: list[tuple[ShiftSpan, ShiftSpan]] = []
    for person_shifts in by_person.values():
        ordered = sorted(person_shifts, key=lambda s: (s.starts_at, s.shift_id))
        for i, a in enumerate(ordered):
            for b in ordered[i + 1 :]:
                if b.starts_at >= a.ends_at:
                    break
                pairs.append((a, b))
    return pairs


def validate(
    shifts: Sequence[ShiftSpan],
    *,
    start: datetime,
    end: datetime,
    members: Iterable[str],
    elsewhere: Iterable[ShiftSpan] = (),
    neighbours: Iterable[ShiftSpan] = (),
) -> list[RosterProblem]:
    """Everything wrong with a roster's `shifts` for its period [start, end): each gap with its
    times, each pair of overlapping shifts of one person, each shift that puts someone on duty
    here while they are on duty at another center (`elsewhere`: their published shifts there),
    each shift for someone not a member. Gaps are `roster_gaps`: `neighbours` are the center's
    published shifts of other rosters. Empty: the roster may be published."""
    problems = [
        RosterProblem(ProblemKind.GAP, gap_start, gap_end)
        for gap_start, gap_end in roster_gaps(shifts, neighbours, start=start, end=end)
    ]
    problems += [
        RosterProblem(
            ProblemKind.OVERLAP,
            max(a.starts_at, b.starts_at),
            min(a.ends_at, b.ends_at),
            person_id=a.person_id,
            shift_ids=(a.shift_id, b.shift_id),
        )
        for a, b in overlaps(shifts)
    ]
    others: dict[str, list[ShiftSpan]] = defaultdict(list)
    for other in elsewhere:
        others[other.person_id].append(other)
    for s in shifts:
        for other in others.get(s.person_id, ()):
            if other.duty_center_id != s.duty_center_id and (
                other.starts_at < s.ends_at and s.starts_at < other.ends_at
            ):
                problems.append(
                    RosterProblem(
                        ProblemKind.TWO_CENTERS,
                        max(s.starts_at, other.starts_at),
                        min(s.ends_at, other.ends_at),
                        person_id=s.person_id,
                        shift_ids=(s.shift_id, other.shift_id),
                        other_duty_center_id=other.duty_center_id,
                    )
                )
    member_ids = set(members)
    problems += [
        RosterProblem(
            ProblemKind.NOT_A_MEMBER,
            s.starts_at,
            s.ends_at,
            person_id=s.person_id,
            shift_ids=(s.shift_id,),
        )
        for s in shifts
        if s.person_id not in member_ids
    ]
    return sorted(problems, key=lambda p: (p.starts_at, p.kind.value, p.shift_ids))


def blocking(problems: Iterable[RosterProblem], *, allow_gaps: bool) -> list[RosterProblem]:
    """The problems that stop publication: all of them, or all but gaps when the leader says a
    center is not staffed round the clock (a street center by day only, say)."""
    return [p for p in problems if not (allow_gaps and p.kind is ProblemKind.GAP)]
