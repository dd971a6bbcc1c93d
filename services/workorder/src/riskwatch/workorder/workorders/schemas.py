"""API models of work orders and their steps."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from riskwatch.common.events.base import Level
from riskwatch.common.events.workorders import BulletinUnit, LoopTier, Origin, Stage
from riskwatch.common.inputs import FreeText, Key, Line, UtcDatetime
from riskwatch.workorder.workorders.domain import Action, Status

# Notes and feedback are free text from handlers: stripped, and blank is not an answer.
Text = Annotated[FreeText, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
Title = Annotated[Line, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Person = Annotated[Line, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
FieldName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Lon = Annotated[float, Field(ge=-180, le=180)]
Lat = Annotated[float, Field(ge=-90, le=90)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoteBody(_Body):
    note: Text | None = None


class ReasonBody(_Body):
    reason: Text


class DispatchBody(_Body):
    unit_id: Key
    assignee: Person | None = None


class TransferBody(DispatchBody):
    reason: Text


class ArriveBody(_Body):
    lon: Lon | None = None
    lat: Lat | None = None
    at: UtcDatetime | None = None  # when the handler arrived, if told afterwards


class ClearBody(_Body):
    note: Text
    at: UtcDatetime | None = None  # when the alarm's cause was removed, if told afterwards


class FeedbackBody(_Body):
    """The closure data (闭环反馈): the fields the manual requires, e.g. cause and measures."""

    fields: dict[FieldName, Text] = Field(min_length=1, max_length=30)


class SuperviseBody(_Body):
    note: Text
    deadline: UtcDatetime


class ReportBody(_Body):
    """A work order made by hand: a patrol's finding or a report from the public."""

    origin: Literal["patrol", "public"]
    scenario_id: Key
    level: Level = Level.BLUE
    town_id: Key | None = None
    village_id: Key | None = None
    title: Title
    description: Text | None = None
    lon: Lon | None = None
    lat: Lat | None = None


class WorkOrderRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    work_order_id: str
    alarm_id: str
    origin: Origin
    rule_id: str | None
    level: Level
    status: Status
    tier: LoopTier
    sector_id: str
    scenario_id: str
    town_id: str | None
    device_id: str | None
    title: str
    description: str | None
    unit_id: str | None
    assignee: str | None
    manual_version: int | None
    disposal_standard: str | None
    disposal_type: str | None
    required_fields: list[str]
    photos_required: int
    created_at: datetime
    accept_due_at: datetime
    on_site_due_at: datetime
    clear_due_at: datetime
    feedback_due_at: datetime
    due_at: datetime
    stage_due_at: datetime | None
    accepted_at: datetime | None
    accepted_by: str | None
    on_site_at: datetime | None
    on_site_lon: float | None
    on_site_lat: float | None
    cleared_at: datetime | None
    clear_note: str | None
    feedback_at: datetime | None
    feedback: dict[str, str]
    quality_problems: list[str]
    reviewed_at: datetime | None
    closed_at: datetime | None
    closed_by: str | None
    false_alarm: bool
    updated_at: datetime


class WorkOrderEventRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    action: Action | Literal["remind", "overdue"]
    from_status: Status | None
    to_status: Status
    actor: str
    note: str | None
    at: datetime


class WorkOrderDetail(WorkOrderRead):
    stage: Stage | None
    allowed_actions: list[Action]  # what the status allows now (who may: see the docs)
    history: list[WorkOrderEventRead]


class WorkOrderPage(BaseModel):
    items: list[WorkOrderRead]
    next_cursor: str | None = None


class BulletinRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    bulletin_id: str
    week_start: datetime
    week_end: datetime
    units: list[BulletinUnit]
    published_at: datetime
    published_by: str


class BulletinRequest(_Body):
    week_of: UtcDatetime | None = None  # any instant in the week; default the last full week
