"""API models of alarms."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from riskwatch.common.events.base import Level

AlarmStatus = Literal["active", "cleared"]


class AlarmRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    alarm_id: str
    rule_id: str
    rule_version: int
    device_id: str
    sector_id: str
    scenario_id: str
    town_id: str | None
    metric: str
    level: Level
    status: AlarmStatus
    value: float
    threshold: float
    observed_at: datetime
    received_at: datetime
    raised_at: datetime
    last_value: float
    last_observed_at: datetime
    breach_count: int
    updated_at: datetime
    cleared_at: datetime | None
    cleared_reason: str | None
    work_order_id: str | None
    kind: Literal["safety", "technical"] = "safety"


class AlarmPage(BaseModel):
    items: list[AlarmRead]
    next_cursor: str | None = None
