"""Topic `rw.workorders`, key `alarm_id` (a hand-made order: its work_order_id): a work order
was opened, moved, reminded, went overdue; key `bulletin` for the weekly overdue bulletin.

The vocabulary of the closed loop lives here, once: statuses, actions, stages, loop tiers.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict

from riskwatch.common.events.base import EventPayload, Level, Timestamp, event_type

# created -> dispatched -> accepted -> on_site -> cleared -> feedback -> reviewed -> closed;
# returned (退单) waits for a new dispatch like created does.
WorkOrderStatus = Literal[
    "created",
    "dispatched",
    "accepted",
    "on_site",
    "cleared",
    "feedback",
    "reviewed",
    "closed",
    "returned",
]
WORK_ORDER_STATUSES: tuple[WorkOrderStatus, ...] = get_args(WorkOrderStatus)
WorkOrderAction = Literal[
    "create",  # from an alarm, or by hand (a patrol or a public report)
    "dispatch",  # 派单: to a unit, and a person when known
    "accept",  # 接单
    "return",  # 退单: back to dispatch, with the reason
    "transfer",  # 转派: to another unit or person
    "arrive",  # on site
    "clear",  # 销警: clears the alarm
    "feedback",  # 闭环反馈: the closure data
    "correct",  # closure data failed the checks: back to the handler for correction
    "review",  # the closure data was checked and found right
    "close",
    "false_alarm",  # closes; the alarm is labelled false
    "reopen",
    "supervise",  # 督办: a leader's note with a new deadline
    "escalate_tier",  # small -> medium -> big loop
    "escalate_level",  # its alarm reached a higher level
]
WORK_ORDER_ACTIONS: tuple[WorkOrderAction, ...] = get_args(WorkOrderAction)
# The stages that have a time limit, in the order of the loop; each limit counts from creation.
Stage = Literal["accept", "on_site", "clear", "feedback", "close"]
STAGES: tuple[Stage, ...] = get_args(Stage)
# 小闭环 within a unit or town, 中闭环 within a department, 大闭环 by the district emergency bureau.
LoopTier = Literal["small", "medium", "big"]
LOOP_TIERS: tuple[LoopTier, ...] = get_args(LoopTier)
Origin = Literal["alarm", "patrol", "public"]


class WorkOrderSnapshot(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    work_order_id: str
    # An order made by hand has no alarm: its alarm_id is its own work_order_id, so the
    # topic's key and the readers' joins stay one column.
    alarm_id: str
    origin: Origin = "alarm"
    rule_id: str | None = None
    level: Level
    status: WorkOrderStatus
    sector_id: str
    scenario_id: str
    town_id: str | None
    device_id: str | None
    created_at: Timestamp
    due_at: Timestamp  # the order must be closed by then (the manual's close limit)
    tier: LoopTier = "small"
    unit_id: str | None = None  # the responsible unit: a duty center id
    assignee: str | None = None  # the person it is dispatched to (a username)
    # Each stage's limit as the manual set it at creation (an alarm raised to a higher level
    # brings them forward, never back): what timeliness is judged by.
    deadlines: dict[Stage, Timestamp] = {}
    stage: Stage | None = None  # the stage whose limit runs now; None once closed
    # The running stage's limit: its deadline, or the later one a supervision (督办) gave.
    stage_due_at: Timestamp | None = None
    false_alarm: bool = False


@event_type("rw.workorder.created.v1")
class WorkOrderCreated(EventPayload):
    work_order: WorkOrderSnapshot


@event_type("rw.workorder.state_changed.v1")
class WorkOrderStateChanged(EventPayload):
    work_order: WorkOrderSnapshot
    action: WorkOrderAction
    from_status: WorkOrderStatus
    to_status: WorkOrderStatus
    actor: str
    note: str | None = None
    changed_at: Timestamp


@event_type("rw.workorder.deadline_approaching.v1")
class WorkOrderDeadlineApproaching(EventPayload):
    """A stage's limit is near (RW_WORKORDER_REMIND_AT, 80 % of the stage's time by default):
    notify reminds the assignee and the unit's duty center. Produced once per stage limit."""

    work_order: WorkOrderSnapshot
    stage: Stage
    stage_due_at: Timestamp
    reminded_at: Timestamp


@event_type("rw.workorder.overdue.v1")
class WorkOrderOverdue(EventPayload):
    """A stage's limit passed with the stage unfinished: notify reminds the assignee and the
    unit's duty center and escalates to the supervisors (the unit's leader, the sector's
    department heads). Produced once per stage limit; a supervision's new deadline is a new one."""

    work_order: WorkOrderSnapshot
    stage: Stage
    stage_due_at: Timestamp
    overdue_at: Timestamp


class BulletinUnit(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    unit_id: str
    overdue_open: int  # past a limit and still open at the week's end
    closed_late: int  # closed in the week after their close limit
    work_order_ids: list[str]  # both kinds, at most BULLETIN_IDS_LISTED


BULLETIN_IDS_LISTED = 50


@event_type("rw.workorder.bulletin_published.v1")
class WorkOrderBulletinPublished(EventPayload):
    """The weekly overdue bulletin (超时处置通报): notify sends it to the department heads."""

    bulletin_id: str
    week_start: Timestamp
    week_end: Timestamp
    units: list[BulletinUnit]
    published_at: Timestamp
