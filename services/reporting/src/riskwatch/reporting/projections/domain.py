"""Pure rules of the projections: which state is newer when events arrive out of order.

Events of one alarm travel on several topics (alarms, work orders, notifications) and may be
redelivered, so a projection row only ever moves forward: the highest level, the furthest
status, the earliest time a stage was reached.
"""

from __future__ import annotations

from typing import Final

from riskwatch.common.events.base import Level

LEVEL_RANK: Final[dict[str, int]] = {level.value: level.rank for level in Level}

ALARM_CLEARED: Final = "cleared"
ALARM_ACTIVE: Final = "active"

# A work order goes open -> accepted -> disposed -> closed and never back.
WORK_ORDER_RANK: Final[dict[str, int]] = {"open": 1, "accepted": 2, "disposed": 3, "closed": 4}

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
