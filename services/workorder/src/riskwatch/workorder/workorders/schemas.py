"""API models of work orders."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from riskwatch.common.events.base import Level
from riskwatch.common.inputs import FreeText
from riskwatch.workorder.workorders.domain import HistoryAction, Status

# Notes and feedback are free text from handlers: stripped, and blank is not an answer.
Text = Annotated[FreeText, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]


class WorkOrderAccept(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Text | None = None


class WorkOrderDispose(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Text


class WorkOrderClose(BaseModel):
    """Closing is the feedback step of the loop: what was found and done, never blank."""

    model_config = ConfigDict(extra="forbid")

    feedback: Text


class WorkOrderRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    work_order_id: str
    alarm_id: str
    rule_id: str
    level: Level
    status: Status
    sector_id: str
    scenario_id: str
    town_id: str | None
    device_id: str
    title: str
    created_at: datetime
    due_at: datetime
    accepted_at: datetime | None
    accepted_by: str | None
    disposed_at: datetime | None
    disposed_by: str | None
    disposal_note: str | None
    closed_at: datetime | None
    closed_by: str | None
    feedback: str | None
    updated_at: datetime


class WorkOrderEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    action: HistoryAction
    from_status: Status | None
    to_status: Status
    actor: str
    note: str | None
    at: datetime


class WorkOrderDetail(WorkOrderRead):
    history: list[WorkOrderEventRead]


class WorkOrderPage(BaseModel):
    items: list[WorkOrderRead]
    next_cursor: str | None = None
