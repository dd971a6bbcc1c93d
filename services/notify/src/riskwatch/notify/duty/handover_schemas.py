"""API models of handovers (交接班)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from riskwatch.common.events.base import Level
from riskwatch.common.inputs import FreeText, Key

# Surrounding blanks are dropped, so a note of spaces only is refused as empty.
Note = Annotated[FreeText, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]


class HandoverCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Note
    # The incoming person, a member of the center; none: any other member may take over.
    to_person_id: Key | None = None


class HandoverItemRead(BaseModel):
    """An open alarm or work order as it was when the handover was written."""

    alarm_id: str
    work_order_id: str | None = None
    level: Level
    status: str
    device_id: str
    sector_id: str | None = None
    town_id: str | None
    opened_at: datetime


class HandoverRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    handover_id: str
    duty_center_id: str
    from_person_id: str
    to_person_id: str | None
    note: str
    open_alarms: list[HandoverItemRead]
    open_work_orders: list[HandoverItemRead]
    written_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None


class HandoverPage(BaseModel):
    items: list[HandoverRead]
    next_cursor: str | None = None
