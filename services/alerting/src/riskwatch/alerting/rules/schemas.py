"""API models of threshold rules."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, FiniteFloat

from riskwatch.alerting.rules.domain import Direction
from riskwatch.common.inputs import FreeText, Key, Line

RULE_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"


class RulePut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Line = Field(min_length=1, max_length=200)
    description: FreeText | None = None
    scenario_id: Annotated[Key, Field(examples=["gas"])]
    metric: Key = Field(max_length=64, examples=["ch4_lel"])
    direction: Direction = "above"
    blue: FiniteFloat | None = None
    yellow: FiniteFloat | None = None
    orange: FiniteFloat | None = None
    red: FiniteFloat | None = None
    unit: Line | None = Field(default=None, max_length=32)
    enabled: bool = True


class RuleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    rule_id: str
    name: str
    description: str | None
    scenario_id: str
    metric: str
    direction: Direction
    blue: float | None
    yellow: float | None
    orange: float | None
    red: float | None
    unit: str | None
    enabled: bool
    version: int
    created_at: datetime
    updated_at: datetime


class RulePage(BaseModel):
    items: list[RuleRead]
    next_cursor: str | None = None
