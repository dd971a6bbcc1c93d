"""API models of escalation: policies as edited and read, an alarm's escalation as it stands."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from riskwatch.common.access import Role
from riskwatch.common.events.base import Level
from riskwatch.notify.escalation import domain
from riskwatch.notify.escalation.domain import EscalationStatus, Over, TargetKind
from riskwatch.notify.notifications.domain import AckVia, ChannelKind


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TargetIn(_In):
    kind: TargetKind
    role: Role | None = None  # kind "role" only
    over: Over | None = None  # kind "role" only: the alarm's district, sector or town


class StepIn(_In):
    after_min: float = Field(ge=0, le=domain.MAX_WAIT_MIN)
    targets: list[TargetIn] = Field(min_length=1, max_length=10)
    channels: list[ChannelKind] = Field(min_length=1, max_length=len(ChannelKind))


class RepeatIn(_In):
    from_step: int = Field(ge=0, lt=domain.MAX_STEPS)
    every_min: float = Field(gt=0, le=domain.MAX_WAIT_MIN)
    rounds: int = Field(ge=1, le=domain.MAX_ROUNDS)


class PolicyIn(_In):
    steps: list[StepIn] = Field(min_length=1, max_length=domain.MAX_STEPS)
    repeat: RepeatIn | None = None

    def to_domain(self) -> domain.Policy:
        return domain.policy_from_json(self.model_dump(mode="json"))

    @classmethod
    def of(cls, policy: domain.Policy) -> PolicyIn:
        return cls.model_validate(domain.policy_to_json(policy))


class PoliciesPut(_In):
    """Policies by level; a level left out keeps its current policy."""

    policies: dict[Level, PolicyIn] = Field(min_length=1)


class PoliciesRead(BaseModel):
    version: int  # 0: the built-in defaults, never edited
    policies: dict[Level, PolicyIn]
    created_by: str | None = None
    created_at: datetime | None = None


class PolicyVersions(BaseModel):
    items: list[PoliciesRead]


class ScheduledStep(BaseModel):
    step: int
    round: int
    due_at: datetime
    fired: bool


class EscalationRead(BaseModel):
    """An alarm's escalation: where it stands and its whole schedule."""

    alarm_id: str
    level: Level
    policy_version: int
    status: EscalationStatus
    started_at: datetime
    next_step: int | None
    round: int | None
    next_step_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    acknowledged_via: AckVia | None
    stopped_at: datetime | None
    schedule: list[ScheduledStep]
