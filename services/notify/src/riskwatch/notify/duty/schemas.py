"""API models of duty centers and who is on duty."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from riskwatch.notify.duty.domain import CenterKind


class DutyCenterRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    duty_center_id: str
    name: str
    kind: CenterKind
    sector_id: str | None
    town_id: str | None
    created_at: datetime
    updated_at: datetime


class DutyCenterPage(BaseModel):
    items: list[DutyCenterRead]
    next_cursor: str | None = None


class ShiftRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    shift_id: str
    starts_at: datetime
    ends_at: datetime


class OnDutyPersonRead(BaseModel):
    person_id: str
    name: str
    phone: str
    shift: ShiftRead


class OnDutyRead(BaseModel):
    duty_center_id: str
    at: datetime
    people: list[OnDutyPersonRead]
