"""Pure work-order logic: the disposal state machine, deadlines per level, escalation.

No I/O and no framework here; the service turns `TransitionNotAllowed` into `InvalidState`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from riskwatch.common.events.base import Level
from riskwatch.common.events.workorders import WorkOrderAction, WorkOrderStatus

Status = WorkOrderStatus
Action = WorkOrderAction
# What the history records: the handlers' actions plus what the alarm stream does to an order.
HistoryAction = Literal["create", "escalate", "accept", "dispose", "close"]

# open -> accepted -> disposed -> closed; closing straight from accepted records the disposal
# with the close (the handler disposed and closed in one visit).
TRANSITIONS: dict[tuple[Status, Action], Status] = {
    ("open", "accept"): "accepted",
    ("accepted", "dispose"): "disposed",
    ("accepted", "close"): "closed",
    ("disposed", "close"): "closed",
}
STATUS_ORDER: dict[Status, int] = {"open": 0, "accepted": 1, "disposed": 2, "closed": 3}
TERMINAL: frozenset[Status] = frozenset({"closed"})

_HINTS: dict[Status, str] = {
    "open": "accept it first",
    "accepted": "dispose or close it",
    "disposed": "close it",
    "closed": "it is closed",
}


class TransitionNotAllowed(Exception):
    """The action is not allowed from the work order's current status."""

    def __init__(self, status: Status, action: Action) -> None:
        self.status = status
        self.action = action
        super().__init__(f"Cannot {action} a work order that is {status}; {_HINTS[status]}.")


def transition(status: Status, action: Action) -> Status:
    """The status `action` leads to from `status`, or `TransitionNotAllowed`."""
    target = TRANSITIONS.get((status, action))
    if target is None:
        raise TransitionNotAllowed(status, action)
    return target


@dataclass(frozen=True, slots=True)
class DeadlinePolicy:
    """How long after its creation a work order of each level must be closed."""

    red: timedelta
    orange: timedelta
    yellow: timedelta
    blue: timedelta

    def for_level(self, level: Level) -> timedelta:
        value: timedelta = getattr(self, level.value)
        return value


DEFAULT_POLICY = DeadlinePolicy(
    red=timedelta(hours=2),
    orange=timedelta(hours=6),
    yellow=timedelta(hours=24),
    blue=timedelta(hours=72),
)


def due_at(level: Level, created_at: datetime, policy: DeadlinePolicy = DEFAULT_POLICY) -> datetime:
    """When a work order of `level` created at `created_at` must be closed."""
    return created_at + policy.for_level(level)


@dataclass(frozen=True, slots=True)
class Escalation:
    level: Level
    due_at: datetime


def escalate(
    *,
    status: Status,
    level: Level,
    current_due_at: datetime,
    created_at: datetime,
    new_level: Level,
    policy: DeadlinePolicy = DEFAULT_POLICY,
) -> Escalation | None:
    """What an alarm reaching `new_level` does to its work order; None when nothing changes.

    Only a higher level counts, a closed order is history and stays as it was, and the
    deadline only moves earlier: an escalation never gives a handler more time.
    """
    if status in TERMINAL or new_level.rank <= level.rank:
        return None
    return Escalation(new_level, min(current_due_at, due_at(new_level, created_at, policy)))
