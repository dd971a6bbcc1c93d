"""Pure duty logic: which duty centers an alarm goes to, who is on duty at an instant, and the
shape of the demo roster. No I/O, no framework imports."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from riskwatch.common.events.base import Level

T = TypeVar("T")


class CenterKind(StrEnum):
    DISTRICT = "district"  # the district main platform's duty center (区总平台)
    SECTOR = "sector"  # a sector sub-platform's (行业分平台)
    STREET = "street"  # a town or street sub-platform's (街道/镇值班中心)


@dataclass(frozen=True, slots=True)
class DutyCenterRef:
    duty_center_id: str
    kind: CenterKind
    sector_id: str | None = None
    town_id: str | None = None
    # Where its alarms also go while nobody there is on duty or checked in; None: the default
    # for its kind (see fallback_of).
    fallback_id: str | None = None


@dataclass(frozen=True, slots=True)
class ShiftSpan:
    shift_id: str
    duty_center_id: str
    person_id: str
    starts_at: datetime
    ends_at: datetime

    def covers(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at


@dataclass(frozen=True, slots=True)
class OnDutyPerson:
    """Someone on duty, how to reach them, and the shift that puts them there."""

    person_id: str
    name: str
    phone: str
    shift: ShiftSpan
    email: str | None = None
    locale: str | None = None


# -- routing as data ---------------------------------------------------------------------------


class TargetKind(StrEnum):
    STREET = "street"  # the street or town center of the alarm's town
    SECTOR = "sector"  # the center of the alarm's sector
    DISTRICT = "district"  # the district center
    CENTER = "center"  # one named center


@dataclass(frozen=True, slots=True)
class RoutingTarget:
    kind: TargetKind
    duty_center_id: str | None = None  # for CENTER


@dataclass(frozen=True, slots=True)
class RoutingRule:
    """Alarms matching every given condition (an empty one matches all) go to `targets`, in
    order."""

    name: str
    targets: tuple[RoutingTarget, ...]
    sector_ids: frozenset[str] = frozenset()
    scenario_ids: frozenset[str] = frozenset()
    town_ids: frozenset[str] = frozenset()
    min_level: Level | None = None

    def matches(self, place: AlarmPlace, level: Level) -> bool:
        return (
            (not self.sector_ids or place.sector_id in self.sector_ids)
            and (not self.scenario_ids or place.scenario_id in self.scenario_ids)
            and (not self.town_ids or place.town_id in self.town_ids)
            and (self.min_level is None or level.rank >= self.min_level.rank)
        )

    def describe(self) -> str:
        conditions = [
            f"{label} in {sorted(values)}"
            for label, values in (
                ("sector", self.sector_ids),
                ("scenario", self.scenario_ids),
                ("town", self.town_ids),
            )
            if values
        ]
        if self.min_level is not None:
            conditions.append(f"level >= {self.min_level.value}")
        return f"rule {self.name!r} ({' and '.join(conditions) or 'every alarm'})"


@dataclass(frozen=True, slots=True)
class AlarmPlace:
    sector_id: str
    scenario_id: str | None = None
    town_id: str | None = None


# From orange (II, 严重) up, the district duty center is told as well as the local ones.
DISTRICT_FROM = Level.ORANGE

# The default routing (seed 000: alarms pushed to the street duty center first is what brought
# late disposals down from 12.11% to 0.30%): street center, sector center, and for orange and
# red the district center. The first rule that matches decides.
DEFAULT_RULES: tuple[RoutingRule, ...] = (
    RoutingRule(
        "orange-and-up",
        targets=(
            RoutingTarget(TargetKind.STREET),
            RoutingTarget(TargetKind.SECTOR),
            RoutingTarget(TargetKind.DISTRICT),
        ),
        min_level=DISTRICT_FROM,
    ),
    RoutingRule(
        "street-then-sector",
        targets=(RoutingTarget(TargetKind.STREET), RoutingTarget(TargetKind.SECTOR)),
    ),
)


@dataclass(frozen=True, slots=True)
class Routed:
    """A center an alarm goes to, and why."""

    center: DutyCenterRef
    reason: str
    fallback_for: str | None = None  # the center whose alarms this one takes over


def route(
    rules: Sequence[RoutingRule],
    place: AlarmPlace,
    level: Level,
    centers: Iterable[DutyCenterRef],
) -> list[Routed]:
    """The duty centers an alarm goes to, in the order they are told, by the first rule that
    matches. A target that does not exist (no street center for the town) is left out and
    nothing is invented; a center named twice is told once."""
    centers = list(centers)
    rule = next((r for r in rules if r.matches(place, level)), None)
    if rule is None:
        return []
    chosen: list[Routed] = []
    for target in rule.targets:
        for center in _resolve(target, place, centers):
            why = f"{rule.describe()}: {_target_words(target, place)}"
            chosen.append(Routed(center, why))
    return _first_of_each(chosen, key=lambda r: r.center.duty_center_id)


def _resolve(
    target: RoutingTarget, place: AlarmPlace, centers: Sequence[DutyCenterRef]
) -> list[DutyCenterRef]:
    match target.kind:
        case TargetKind.STREET:
            return [
                c
                for c in centers
                if c.kind is CenterKind.STREET
                and place.town_id is not None
                and c.town_id == place.town_id
            ]
        case TargetKind.SECTOR:
            return [
                c for c in centers if c.kind is CenterKind.SECTOR and c.sector_id == place.sector_id
            ]
        case TargetKind.DISTRICT:
            return [c for c in centers if c.kind is CenterKind.DISTRICT]
        case TargetKind.CENTER:
            return [c for c in centers if c.duty_center_id == target.duty_center_id]


def _target_words(target: RoutingTarget, place: AlarmPlace) -> str:
    match target.kind:
        case TargetKind.STREET:
            return f"the street center of town {place.town_id}"
        case TargetKind.SECTOR:
            return f"the center of sector {place.sector_id}"
        case TargetKind.DISTRICT:
            return "the district center"
        case TargetKind.CENTER:
            return f"center {target.duty_center_id}"


def fallback_of(center: DutyCenterRef, district_id: str | None) -> str | None:
    """The next level up: the center's own fallback if set, else the district center for a
    street or sector center; the district center has none."""
    if center.fallback_id is not None:
        return center.fallback_id
    if center.kind is CenterKind.DISTRICT:
        return None
    return district_id


def with_fallbacks(
    routed: Sequence[Routed],
    centers: Iterable[DutyCenterRef],
    *,
    uncovered: Mapping[str, str],
) -> list[Routed]:
    """`routed` plus, after each center in `uncovered` (center id -> why: nobody on duty,
    nobody checked in), the next level up, and its next level while that one is uncovered too
    (never a loop). Never nobody: an alarm reaches someone above a center left empty."""
    by_id = {c.duty_center_id: c for c in centers}
    district_id = next(
        (c.duty_center_id for c in by_id.values() if c.kind is CenterKind.DISTRICT), None
    )
    result = list(routed)
    seen = {r.center.duty_center_id for r in routed}
    for r in routed:
        current = r.center
        while current.duty_center_id in uncovered:
            up_id = fallback_of(current, district_id)
            up = by_id.get(up_id) if up_id is not None else None
            if up is None or up.duty_center_id in seen:
                break
            seen.add(up.duty_center_id)
            result.append(
                Routed(
                    up,
                    f"fallback of {current.duty_center_id}: {uncovered[current.duty_center_id]}",
                    fallback_for=current.duty_center_id,
                )
            )
            current = up
    return result


class AlertKind(StrEnum):
    """A duty alert: something about duty that must be seen, never only a log line."""

    MISSED_CHECK_IN = "missed_check_in"  # nobody at a center checked in by start + grace
    NOBODY_ON_DUTY = "nobody_on_duty"  # an alarm came to a center with nobody on duty
    UNREACHED_ALARM = "unreached_alarm"  # an alarm reached no person at all


# -- check-in (报到) ------------------------------------------------------------------------------

# A person may check in this long before their shift starts.
CHECK_IN_EARLY = timedelta(minutes=30)


class Attendance(StrEnum):
    ATTENDED = "attended"  # someone on duty now has checked in
    AWAITED = "awaited"  # nobody yet, but the grace period after the shift start runs
    MISSED = "missed"  # nobody checked in by the shift start plus the grace period
    UNSTAFFED = "unstaffed"  # nobody is on duty at all


def shift_to_check_in(
    shifts: Iterable[ShiftSpan], *, person_id: str, at: datetime, early: timedelta = CHECK_IN_EARLY
) -> ShiftSpan | None:
    """The shift `person_id` checks in for at `at`: the earliest-starting of theirs that covers
    `at` or starts within `early` of it."""
    candidates = [
        s for s in shifts if s.person_id == person_id and s.starts_at - early <= at < s.ends_at
    ]
    return min(candidates, key=lambda s: (s.starts_at, s.shift_id), default=None)


def is_late(shift: ShiftSpan, checked_in_at: datetime, grace: timedelta) -> bool:
    return checked_in_at > shift.starts_at + grace


@dataclass(frozen=True, slots=True)
class CheckIn:
    """A shift's check-in: when, whether late, and whether this call made it (False: the
    person had already checked in for it, and that check-in stands)."""

    shift: ShiftSpan
    at: datetime
    late: bool
    new: bool


def check_in(
    shifts: Iterable[ShiftSpan],
    *,
    person_id: str,
    at: datetime,
    grace: timedelta,
    checked_in: Mapping[str, tuple[datetime, bool]],
) -> CheckIn | None:
    """The transition of 报到: `person_id` reports at `at` for the shift `shift_to_check_in`
    picks; `checked_in` maps shift ids already checked in to (when, late). None: no shift to
    check in for. Checking in again changes nothing."""
    shift = shift_to_check_in(shifts, person_id=person_id, at=at)
    if shift is None:
        return None
    if shift.shift_id in checked_in:
        earlier, late = checked_in[shift.shift_id]
        return CheckIn(shift, earlier, late, new=False)
    return CheckIn(shift, at, is_late(shift, at, grace), new=True)


class SwapStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"


class SwapAlreadyDecided(Exception):
    def __init__(self, status: SwapStatus) -> None:
        self.status = status
        super().__init__(f"the swap is already {status.value}")


def decide_swap(status: SwapStatus, *, approve: bool) -> SwapStatus:
    """requested -> approved | rejected; a decided swap is final (SwapAlreadyDecided)."""
    if status is not SwapStatus.REQUESTED:
        raise SwapAlreadyDecided(status)
    return SwapStatus.APPROVED if approve else SwapStatus.REJECTED


def attendance(
    on_shift: Iterable[ShiftSpan], *, checked_in: Collection[str], at: datetime, grace: timedelta
) -> Attendance:
    """How a center stands at `at`: `on_shift` are its shifts covering `at`, `checked_in` the
    ids of shifts whose person has checked in. Missed once the earliest of them started more
    than `grace` ago with nobody checked in."""
    covering = [s for s in on_shift if s.covers(at)]
    if not covering:
        return Attendance.UNSTAFFED
    if any(s.shift_id in checked_in for s in covering):
        return Attendance.ATTENDED
    if at < min(s.starts_at for s in covering) + grace:
        return Attendance.AWAITED
    return Attendance.MISSED


def on_duty(shifts: Iterable[ShiftSpan], at: datetime) -> list[ShiftSpan]:
    """The people on duty at `at` (starts_at <= at < ends_at), each with the shift that puts
    them there; one entry per person (the earliest-starting covering shift), by shift start."""
    covering = sorted((s for s in shifts if s.covers(at)), key=lambda s: (s.starts_at, s.shift_id))
    return _first_of_each(covering, key=lambda s: s.person_id)


def _first_of_each(items: Iterable[T], *, key: Callable[[T], str]) -> list[T]:
    seen: set[str] = set()
    kept = []
    for item in items:
        if key(item) not in seen:
            seen.add(key(item))
            kept.append(item)
    return kept
