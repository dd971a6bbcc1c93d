"""Pure work-order logic: the closed loop's state machine, stage limits, timers, closure checks.

No I/O and no framework. `decide(order, command, now)` is the one transition function: the
service loads an `Order`, applies a command, saves the new `Order` and stages the events the
`Decision` names. An action the status does not allow raises `TransitionNotAllowed`, which
names the actions allowed now (the API's 409).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from riskwatch.common.events.base import Level
from riskwatch.common.events.workorders import (
    LOOP_TIERS,
    STAGES,
    LoopTier,
    Stage,
    WorkOrderAction,
    WorkOrderStatus,
)

Status = WorkOrderStatus
Action = WorkOrderAction

# The stage whose limit runs in each status. An order waiting for dispatch (created, returned)
# is already on the accept clock: the limit counts from the alarm, not from the dispatcher.
STAGE_OF: dict[Status, Stage | None] = {
    "created": "accept",
    "returned": "accept",
    "dispatched": "accept",
    "accepted": "on_site",
    "on_site": "clear",
    "cleared": "feedback",
    "feedback": "close",
    "reviewed": "close",
    "closed": None,
}
TERMINAL: frozenset[Status] = frozenset({"closed"})
# Who decides what can happen to an order whatever its status (except closed).
_ANYTIME: tuple[Action, ...] = ("supervise", "escalate_tier", "escalate_level")
ALLOWED: dict[Status, tuple[Action, ...]] = {
    "created": ("dispatch", "false_alarm", *_ANYTIME),
    "returned": ("dispatch", "false_alarm", *_ANYTIME),
    "dispatched": ("accept", "return", "transfer", "false_alarm", *_ANYTIME),
    "accepted": ("arrive", "return", "transfer", "false_alarm", *_ANYTIME),
    "on_site": ("clear", "false_alarm", *_ANYTIME),
    "cleared": ("feedback", *_ANYTIME),
    "feedback": ("review", "correct", *_ANYTIME),
    "reviewed": ("close", "correct", *_ANYTIME),
    "closed": ("reopen",),
}
# Where each action leads; None: the status stays (supervise, escalations).
TARGET: dict[Action, Status | None] = {
    "create": "created",
    "dispatch": "dispatched",
    "accept": "accepted",
    "return": "returned",
    "transfer": "dispatched",
    "arrive": "on_site",
    "clear": "cleared",
    "feedback": "feedback",
    "correct": "cleared",
    "review": "reviewed",
    "close": "closed",
    "false_alarm": "closed",
    "reopen": "dispatched",
    "supervise": None,
    "escalate_tier": None,
    "escalate_level": None,
}


class TransitionNotAllowed(Exception):
    """The action is not allowed from the work order's current status."""

    def __init__(self, status: Status, action: Action) -> None:
        self.status = status
        self.action = action
        self.allowed = ALLOWED[status]
        super().__init__(
            f"Cannot {action} a work order that is {status}; "
            f"allowed now: {', '.join(self.allowed)}."
        )


class CommandRejected(ValueError):
    """The action is allowed now, but not with these values (a deadline in the past, the top
    tier escalated again, a transfer to where it already is)."""


# --- Stage limits -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StageLimits:
    """Each stage's limit, counted from the order's creation, in the loop's order."""

    accept: timedelta
    on_site: timedelta
    clear: timedelta
    feedback: timedelta
    close: timedelta

    def __post_init__(self) -> None:
        values = [self.of(s) for s in STAGES]
        if any(v <= timedelta(0) for v in values):
            raise ValueError("every stage limit must be positive")
        if values != sorted(values):
            raise ValueError(
                "stage limits count from creation and must not shrink along the loop "
                "(accept <= on_site <= clear <= feedback <= close)"
            )

    def of(self, stage: Stage) -> timedelta:
        value: timedelta = getattr(self, stage)
        return value

    def deadlines(self, created_at: datetime) -> dict[Stage, datetime]:
        return {s: created_at + self.of(s) for s in STAGES}

    @classmethod
    def scaled(cls, close: timedelta) -> StageLimits:
        """Limits for an order no manual entry covers: the close limit of its level, the
        stages before it at fixed shares of it."""
        return cls(
            accept=close / 12,
            on_site=close / 4,
            clear=close / 2,
            feedback=close * 3 / 4,
            close=close,
        )


@dataclass(frozen=True, slots=True)
class DeadlinePolicy:
    """How long after its creation a work order of each level must be closed, when no command
    manual entry covers it (the manual's entries carry their own stage limits)."""

    red: timedelta
    orange: timedelta
    yellow: timedelta
    blue: timedelta

    def for_level(self, level: Level) -> timedelta:
        value: timedelta = getattr(self, level.value)
        return value

    def limits(self, level: Level) -> StageLimits:
        return StageLimits.scaled(self.for_level(level))


DEFAULT_POLICY = DeadlinePolicy(
    red=timedelta(hours=2),
    orange=timedelta(hours=6),
    yellow=timedelta(hours=24),
    blue=timedelta(hours=72),
)


def due_at(level: Level, created_at: datetime, policy: DeadlinePolicy = DEFAULT_POLICY) -> datetime:
    """When a work order of `level` created at `created_at` must be closed (no manual entry)."""
    return created_at + policy.for_level(level)


# --- The order and its commands ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Location:
    lon: float
    lat: float


@dataclass(frozen=True, slots=True)
class Order:
    """What the transition function knows of a work order."""

    status: Status
    level: Level
    tier: LoopTier
    created_at: datetime
    deadlines: Mapping[Stage, datetime]
    unit_id: str | None = None
    assignee: str | None = None
    # The running stage's limit and when its clock started (creation; a supervision restarts it).
    stage_due_at: datetime | None = None
    stage_clock_from: datetime | None = None
    reminded: bool = False  # the running stage's reminder was produced
    overdue: bool = False  # the running stage's overdue event was produced
    accepted_at: datetime | None = None
    on_site_at: datetime | None = None
    on_site_location: Location | None = None
    cleared_at: datetime | None = None
    feedback_at: datetime | None = None
    feedback: Mapping[str, str] = field(default_factory=dict)
    reviewed_at: datetime | None = None
    closed_at: datetime | None = None
    false_alarm: bool = False
    quality_problems: tuple[str, ...] = ()

    @property
    def stage(self) -> Stage | None:
        return STAGE_OF[self.status]

    @property
    def allowed(self) -> tuple[Action, ...]:
        return ALLOWED[self.status]


def new_order(*, level: Level, tier: LoopTier, created_at: datetime, limits: StageLimits) -> Order:
    """An order as it is created: waiting for dispatch, on the accept clock."""
    deadlines = limits.deadlines(created_at)
    return Order(
        status="created",
        level=level,
        tier=tier,
        created_at=created_at,
        deadlines=deadlines,
        stage_due_at=deadlines["accept"],
        stage_clock_from=created_at,
    )


@dataclass(frozen=True, slots=True)
class Dispatch:
    unit_id: str
    assignee: str | None = None
    action: Literal["dispatch"] = "dispatch"


@dataclass(frozen=True, slots=True)
class Accept:
    note: str | None = None
    action: Literal["accept"] = "accept"


@dataclass(frozen=True, slots=True)
class Return:
    reason: str
    action: Literal["return"] = "return"


@dataclass(frozen=True, slots=True)
class Transfer:
    unit_id: str
    assignee: str | None
    reason: str
    action: Literal["transfer"] = "transfer"


@dataclass(frozen=True, slots=True)
class Arrive:
    location: Location | None = None
    at: datetime | None = None  # when the handler arrived, told afterwards; default now
    action: Literal["arrive"] = "arrive"


@dataclass(frozen=True, slots=True)
class Clear:
    note: str
    at: datetime | None = None
    action: Literal["clear"] = "clear"


@dataclass(frozen=True, slots=True)
class Feedback:
    fields: Mapping[str, str]
    action: Literal["feedback"] = "feedback"


@dataclass(frozen=True, slots=True)
class Correct:
    problems: tuple[str, ...]
    action: Literal["correct"] = "correct"


@dataclass(frozen=True, slots=True)
class Review:
    note: str | None = None
    action: Literal["review"] = "review"


@dataclass(frozen=True, slots=True)
class Close:
    note: str | None = None
    action: Literal["close"] = "close"


@dataclass(frozen=True, slots=True)
class FalseAlarm:
    reason: str
    action: Literal["false_alarm"] = "false_alarm"


@dataclass(frozen=True, slots=True)
class Reopen:
    reason: str
    action: Literal["reopen"] = "reopen"


@dataclass(frozen=True, slots=True)
class Supervise:
    note: str
    deadline: datetime  # the running stage's new limit
    action: Literal["supervise"] = "supervise"


@dataclass(frozen=True, slots=True)
class EscalateTier:
    reason: str
    action: Literal["escalate_tier"] = "escalate_tier"


@dataclass(frozen=True, slots=True)
class EscalateLevel:
    level: Level
    limits: StageLimits  # of the new level, counted from the order's creation
    tier: LoopTier | None = None  # the new level's entry's loop tier, if the manual has one
    action: Literal["escalate_level"] = "escalate_level"


Command = (
    Dispatch
    | Accept
    | Return
    | Transfer
    | Arrive
    | Clear
    | Feedback
    | Correct
    | Review
    | Close
    | FalseAlarm
    | Reopen
    | Supervise
    | EscalateTier
    | EscalateLevel
)


@dataclass(frozen=True, slots=True)
class Decision:
    order: Order
    action: Action
    from_status: Status
    note: str | None


def next_tier(tier: LoopTier) -> LoopTier | None:
    index = LOOP_TIERS.index(tier)
    return LOOP_TIERS[index + 1] if index + 1 < len(LOOP_TIERS) else None


def decide(order: Order, command: Command, now: datetime) -> Decision:
    """Apply `command` to `order` at `now`: the new order, and what the history records."""
    action: Action = command.action
    if action not in order.allowed:
        raise TransitionNotAllowed(order.status, action)
    target = TARGET[action]
    status = order.status if target is None else target
    changes: dict[str, object] = {"status": status}
    note: str | None = None
    match command:
        case Dispatch(unit_id=unit, assignee=person):
            changes |= {"unit_id": unit, "assignee": person}
            note = f"to {unit}" + (f", {person}" if person else "")
        case Accept(note=text):
            changes["accepted_at"] = now
            note = text
        case Return(reason=reason):
            # Back to dispatch: whoever dispatches next chooses the unit and person again.
            changes |= {"assignee": None, "accepted_at": None}
            note = reason
        case Transfer(unit_id=unit, assignee=person, reason=reason):
            if (unit, person) == (order.unit_id, order.assignee):
                raise CommandRejected("the order is already with that unit and person")
            changes |= {"unit_id": unit, "assignee": person, "accepted_at": None}
            note = f"to {unit}" + (f", {person}" if person else "") + f": {reason}"
        case Arrive(location=location, at=at):
            changes |= {"on_site_at": _told(at, now), "on_site_location": location}
        case Clear(note=text, at=at):
            changes["cleared_at"] = _told(at, now)
            note = text
        case Feedback(fields=fields):
            changes |= {"feedback": dict(fields), "feedback_at": now, "quality_problems": ()}
        case Correct(problems=problems):
            changes |= {"quality_problems": problems, "reviewed_at": None}
            note = "; ".join(problems)
        case Review(note=text):
            changes["reviewed_at"] = now
            note = text
        case Close(note=text):
            changes["closed_at"] = now
            note = text
        case FalseAlarm(reason=reason):
            changes |= {"closed_at": now, "false_alarm": True}
            note = reason
        case Reopen(reason=reason):
            changes |= {
                "closed_at": None,
                "reviewed_at": None,
                "false_alarm": False,
                "accepted_at": None,
            }
            note = reason
        case Supervise(note=text, deadline=deadline):
            if deadline <= now:
                raise CommandRejected("a supervision's deadline must be in the future")
            changes |= {
                "stage_due_at": deadline,
                "stage_clock_from": now,
                "reminded": False,
                "overdue": False,
            }
            note = f"{text} (new deadline {deadline.isoformat()})"
        case EscalateTier(reason=reason):
            tier = next_tier(order.tier)
            if tier is None:
                raise CommandRejected("the order is already in the big loop (大闭环)")
            changes["tier"] = tier
            note = f"{order.tier} -> {tier}: {reason}"
        case EscalateLevel(level=level, limits=limits, tier=tier):
            if level.rank <= order.level.rank:
                raise CommandRejected("an alarm's level only escalates upwards")
            # Deadlines only move earlier and the loop only grows: an escalation never gives a
            # handler more time, nor takes a coordinating level away.
            raised = limits.deadlines(order.created_at)
            deadlines = {s: min(order.deadlines[s], raised[s]) for s in STAGES}
            wider = tier if tier and LOOP_TIERS.index(tier) > LOOP_TIERS.index(order.tier) else None
            changes |= {"level": level, "deadlines": deadlines} | ({"tier": wider} if wider else {})
            note = f"level {order.level.value} -> {level.value}"
            if wider:
                note += f", loop {order.tier} -> {wider}"
    new = dataclasses.replace(order, **changes)  # type: ignore[arg-type]
    new = _restage(order, new)
    return Decision(order=new, action=action, from_status=order.status, note=note)


def _told(at: datetime | None, now: datetime) -> datetime:
    """A time the handler tells afterwards: not in the future."""
    if at is None:
        return now
    if at > now:
        raise CommandRejected("a reported time cannot be in the future")
    return at


def _restage(old: Order, new: Order) -> Order:
    """Put the running stage's clock right after a change: a new stage starts on its manual
    deadline with fresh timers; the same stage keeps its clock (and a supervision's), except
    that a level escalation may bring its deadline forward."""
    stage = new.stage
    if stage is None:
        return dataclasses.replace(
            new, stage_due_at=None, stage_clock_from=None, reminded=False, overdue=False
        )
    if stage != old.stage or old.status in TERMINAL:
        return dataclasses.replace(
            new,
            stage_due_at=new.deadlines[stage],
            stage_clock_from=new.created_at,
            reminded=False,
            overdue=False,
        )
    earlier = new.deadlines[stage]
    if (
        new.stage_due_at is not None
        and earlier < new.stage_due_at
        and earlier != old.deadlines[stage]  # a level escalation brought it forward
    ):
        return dataclasses.replace(new, stage_due_at=earlier, overdue=False)
    return new


# --- Timers -------------------------------------------------------------------------------------

TimerKind = Literal["reminder", "overdue"]


def remind_at(order: Order, fraction: float) -> datetime | None:
    """When the running stage's reminder is due: `fraction` of the stage's time elapsed."""
    if order.stage_due_at is None or order.stage_clock_from is None:
        return None
    span = order.stage_due_at - order.stage_clock_from
    return order.stage_clock_from + span * fraction


def next_timer(order: Order, fraction: float) -> tuple[TimerKind, datetime] | None:
    """The running stage's next timer, or None when both fired (or nothing runs)."""
    if order.stage_due_at is None or order.overdue:
        return None
    if not order.reminded:
        at = remind_at(order, fraction)
        if at is not None and at < order.stage_due_at:
            return "reminder", at
    return "overdue", order.stage_due_at


def fire_timer(order: Order, now: datetime, fraction: float) -> tuple[Order, TimerKind | None]:
    """Fire what is due at `now`, at most one timer; a reminder whose stage is already overdue
    is skipped (the overdue notice says more). Each fires once per stage limit."""
    timer = next_timer(order, fraction)
    if timer is None or timer[1] > now or order.stage_due_at is None:
        return order, None
    if timer[0] == "reminder" and order.stage_due_at > now:
        return dataclasses.replace(order, reminded=True), "reminder"
    return dataclasses.replace(order, reminded=True, overdue=True), "overdue"


# --- Closure quality ---------------------------------------------------------------------------

BBox = tuple[float, float, float, float]  # min lon, min lat, max lon, max lat


@dataclass(frozen=True, slots=True)
class ClosureRules:
    """What the command manual requires of an order's closure data."""

    required_fields: tuple[str, ...] = ()
    photos_required: int = 0


def closure_problems(
    order: Order,
    rules: ClosureRules,
    *,
    photos: int,
    town_bbox: BBox | None,
) -> list[str]:
    """What is wrong with an order's closure data (missing, irregular, illogical); [] when it
    may be reviewed and closed."""
    problems = [
        f"required field {name!r} is missing"
        for name in rules.required_fields
        if not order.feedback.get(name, "").strip()
    ]
    times = [
        ("accepted", order.accepted_at),
        ("on site", order.on_site_at),
        ("cleared", order.cleared_at),
        ("feedback", order.feedback_at),
    ]
    for (first, a), (then, b) in itertools.pairwise(times):
        if a is None or b is None:
            missing = first if a is None else then
            problems.append(f"no {missing} time")
        elif b < a:
            problems.append(f"{then} time {b.isoformat()} is before {first} time {a.isoformat()}")
    if photos < rules.photos_required:
        problems.append(f"{rules.photos_required} photo(s) required, {photos} attached")
    if town_bbox is not None:
        where = order.on_site_location
        if where is None:
            problems.append("no on-site location")
        else:
            lon0, lat0, lon1, lat1 = town_bbox
            if not (lon0 <= where.lon <= lon1 and lat0 <= where.lat <= lat1):
                problems.append(
                    f"on-site location {where.lon:.5f},{where.lat:.5f} is outside the town"
                )
    return sorted(set(problems), key=problems.index)
