"""API models of threshold rules."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, FiniteFloat, WithJsonSchema

from riskwatch.alerting.rules.domain import FLAG_BITS, Direction, flag_names_in_order
from riskwatch.common.inputs import FreeText, Key, Line

RULE_ID_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"


def _known_flag(name: str) -> str:
    if name not in FLAG_BITS:
        raise ValueError(f"unknown quality flag {name!r} (known: {', '.join(FLAG_BITS)})")
    return name


# A quality flag by the contract's name (riskwatch.common.events.readings.FLAG_NAMES).
FlagName = Annotated[
    str,
    AfterValidator(_known_flag),
    WithJsonSchema({"type": "string", "enum": list(FLAG_BITS)}),
]
# Kept each once, in bit order, so the same set given in another order is the same rule.
FlagNames = Annotated[list[FlagName], AfterValidator(flag_names_in_order)]


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
    # Readings carrying any of these quality flags are not evaluated by this rule: they neither
    # raise nor escalate an alarm, nor count towards one. Empty (the default): every reading.
    ignore_flags: FlagNames = Field(
        default_factory=list, max_length=len(FLAG_BITS), examples=[["stuck", "spike"]]
    )
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
    ignore_flags: list[str]
    enabled: bool
    version: int
    created_at: datetime
    updated_at: datetime


class RulePage(BaseModel):
    items: list[RuleRead]
    next_cursor: str | None = None
