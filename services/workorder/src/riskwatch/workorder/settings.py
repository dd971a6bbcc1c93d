"""Settings of the workorder service."""

from __future__ import annotations

import itertools
from datetime import timedelta

from pydantic import BaseModel, Field, field_validator, model_validator

from riskwatch.common.events.base import Level
from riskwatch.common.settings import ServiceSettings
from riskwatch.workorder.workorders.domain import DEFAULT_POLICY, DeadlinePolicy

_POSITIVE = timedelta(seconds=1)


class DisposalDeadlines(BaseModel):
    """Closure deadline per level, counted from the work order's creation.

    Seconds or ISO 8601 durations: `RW_DISPOSAL_DEADLINES__RED=3600` or `=PT1H`.
    """

    red: timedelta = Field(default=DEFAULT_POLICY.red, ge=_POSITIVE)
    orange: timedelta = Field(default=DEFAULT_POLICY.orange, ge=_POSITIVE)
    yellow: timedelta = Field(default=DEFAULT_POLICY.yellow, ge=_POSITIVE)
    blue: timedelta = Field(default=DEFAULT_POLICY.blue, ge=_POSITIVE)

    @field_validator("red", "orange", "yellow", "blue", mode="before")
    @classmethod
    def _seconds(cls, value: object) -> object:
        # Environment values are strings; pydantic reads "3600" as a malformed ISO duration.
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                return value
        return value

    @model_validator(mode="after")
    def _higher_levels_are_not_slower(self) -> DisposalDeadlines:
        # Escalation keeps the earlier deadline anyway; this catches a swapped pair of values.
        levels = (Level.BLUE, Level.YELLOW, Level.ORANGE, Level.RED)
        for lower, higher in itertools.pairwise(levels):
            if getattr(self, higher.value) > getattr(self, lower.value):
                raise ValueError(
                    f"the {higher.value} deadline must not be longer than the {lower.value} one"
                )
        return self

    def policy(self) -> DeadlinePolicy:
        return DeadlinePolicy(red=self.red, orange=self.orange, yellow=self.yellow, blue=self.blue)


class WorkOrderSettings(ServiceSettings):
    service_name: str = "workorder"
    port: int = 8003
    disposal_deadlines: DisposalDeadlines = Field(default_factory=DisposalDeadlines)
