"""Pure rules of the projections: which state is newer when events arrive out of order.

Events of one alarm travel on several topics (alarms, work orders, notifications) and may be
redelivered, so a projection row only ever moves forward: the highest level, the furthest
status, the earliest time a stage was reached. A work order is the exception: it may be
returned and reopened, so its status is its newest event's, by the event's own time.
"""

from __future__ import annotations

from typing import Final, Literal

from riskwatch.common.events.base import Level
from riskwatch.common.events.workorders import WorkOrderStatus

LEVEL_RANK: Final[dict[str, int]] = {level.value: level.rank for level in Level}

ALARM_CLEARED: Final = "cleared"
ALARM_ACTIVE: Final = "active"

# The work order loop's statuses in order; `returned` (退单) waits outside it, like created.
_FORWARD: Final[tuple[WorkOrderStatus, ...]] = (
    "created",
    "dispatched",
    "accepted",
    "on_site",
    "cleared",
    "feedback",
    "reviewed",
    "closed",
)

# A work order's row holds the status and snapshot of its newest event: a WorkOrderCreated by
# its created_at, a WorkOrderStateChanged by its changed_at, a WorkOrderOverdue by its
# overdue_at. Two events of the same instant (an order dispatched the moment it is created) are
# ordered by their kind, a state change being the authority on the status, then by how far
# along the loop their status is; the same rank at the same instant is the same event
# redelivered, which changes nothing.
WorkOrderEventKind = Literal["created", "overdue", "state_changed"]
_KIND_RANK: Final[dict[WorkOrderEventKind, int]] = {"created": 0, "overdue": 1, "state_changed": 2}
_LOOP_RANK: Final[dict[WorkOrderStatus, int]] = {
    status: n for n, status in enumerate(("returned", *_FORWARD), start=1)
}
# Statuses whose first reaching is a stage done (or a step worth dating), by their column.
WORK_ORDER_STAMPED: Final[dict[WorkOrderStatus, str]] = {
    "dispatched": "dispatched_at",
    "accepted": "accepted_at",
    "on_site": "on_site_at",
    "cleared": "cleared_at",
    "feedback": "feedback_at",
    "reviewed": "reviewed_at",
}
WORK_ORDER_CLOSED: Final = "closed"


def snapshot_rank(kind: WorkOrderEventKind, status: WorkOrderStatus) -> int:
    """The tie-break between two events of one work order at the same instant: the higher rank
    is the newer. Only compared when the event times are equal."""
    return _KIND_RANK[kind] * 100 + _LOOP_RANK[status]


# A notification keeps its id across retry attempts. Its status is read from the stages it has
# reached, first match wins, so the order events arrive in cannot matter: an acknowledgement
# proves delivery; a failure is final only when notify gave up (`will_retry` false).
NOTIFICATION_STATUS_BY_STAGE: Final[tuple[tuple[str, str], ...]] = (
    ("acknowledged", "acknowledged_at"),
    ("delivered", "delivered_at"),
    ("failed", "gave_up_at"),
    ("retrying", "failed_at"),
    ("dispatched", "dispatched_at"),
)
NOTIFICATION_STAGES: Final[tuple[str, ...]] = tuple(
    stage for _, stage in reversed(NOTIFICATION_STATUS_BY_STAGE)
)


def notification_status(reached: set[str]) -> str:
    """The status of a notification that reached these stages (`*_at` column names)."""
    for status, stage in NOTIFICATION_STATUS_BY_STAGE:
        if stage in reached:
            return status
    raise ValueError("a notification has reached at least one stage")
