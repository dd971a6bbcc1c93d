"""Topic `rw.workorders`, key `alarm_id`: a work order was opened, moved, or went overdue."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from riskwatch.common.events.base import EventPayload, Level, Timestamp, event_type

WorkOrderStatus = Literal["open", "accepted", "disposed", "closed"]
WorkOrderAction = Literal["accept", "dispose", "close"]


class WorkOrderSnapshot(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    work_order_id: str
    alarm_id: str
    level: Level
    status: WorkOrderStatus
    sector_id: str
    scenario_id: str
    town_id: str | None
    device_id: str
    created_at: Timestamp
    due_at: Timestamp


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


@event_type("rw.workorder.overdue.v1")
class WorkOrderOverdue(EventPayload):
    work_order: WorkOrderSnapshot
    stage: WorkOrderStatus
    overdue_at: Timestamp
