"""Settings of the workorder service."""

from __future__ import annotations

import itertools
from datetime import timedelta

from pydantic import BaseModel, Field, field_validator, model_validator

from riskwatch.common.events.base import Level
from riskwatch.common.settings import ServiceSettings
from riskwatch.workorder.evidence.settings import EvidenceSettings
from riskwatch.workorder.workorders.domain import DEFAULT_POLICY, DeadlinePolicy

_POSITIVE = timedelta(seconds=1)


class DisposalDeadlines(BaseModel):
    """Closure deadline per level, counted from the work order's creation, for an order no
    command manual entry covers (its stages get fixed shares of it: accept 1/12, on site 1/4,
    clear 1/2, feedback 3/4).

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
    # A stage's reminder goes out when this share of its time has passed (RW_STAGE_REMIND_AT).
    stage_remind_at: float = Field(default=0.8, gt=0, lt=1)
    # How often the timer worker looks for due reminders and overdue stages.
    timer_poll_s: float = Field(default=1.0, gt=0, le=60)
    timer_batch_size: int = Field(default=100, ge=1, le=10_000)
    # How often the bulletin job checks whether last week's bulletin is out (each Monday).
    bulletin_check_s: float = Field(default=300.0, gt=0)
    # The embedded demo: the shipped command manual, in force at once, when none exists.
    seed_demo_manual: bool = False
    evidence: EvidenceSettings = Field(default_factory=EvidenceSettings)
