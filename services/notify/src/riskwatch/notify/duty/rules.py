"""Routing rules as stored (JSON) and as the API speaks them; domain.RoutingRule is what
decides."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from riskwatch.common.events.base import Level
from riskwatch.common.inputs import Line
from riskwatch.notify.duty.domain import RoutingRule, RoutingTarget, TargetKind


class TargetIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: TargetKind
    duty_center_id: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _center_named(self) -> TargetIn:
        if (self.kind is TargetKind.CENTER) != (self.duty_center_id is not None):
            raise ValueError("duty_center_id is given exactly when kind is 'center'")
        return self


class RuleIn(BaseModel):
    """One routing rule: alarms matching every given condition go to `targets`, in order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Line = Field(min_length=1, max_length=80)
    sector_ids: list[str] = Field(default_factory=list, max_length=100)
    scenario_ids: list[str] = Field(default_factory=list, max_length=200)
    town_ids: list[str] = Field(default_factory=list, max_length=200)
    min_level: Level | None = None
    targets: list[TargetIn] = Field(min_length=1, max_length=10)

    def to_domain(self) -> RoutingRule:
        return RoutingRule(
            name=self.name,
            targets=tuple(RoutingTarget(t.kind, t.duty_center_id) for t in self.targets),
            sector_ids=frozenset(self.sector_ids),
            scenario_ids=frozenset(self.scenario_ids),
            town_ids=frozenset(self.town_ids),
            min_level=self.min_level,
        )

    @classmethod
    def of(cls, rule: RoutingRule) -> RuleIn:
        return cls(
            name=rule.name,
            sector_ids=sorted(rule.sector_ids),
            scenario_ids=sorted(rule.scenario_ids),
            town_ids=sorted(rule.town_ids),
            min_level=rule.min_level,
            targets=[TargetIn(kind=t.kind, duty_center_id=t.duty_center_id) for t in rule.targets],
        )


def rules_to_json(rules: Sequence[RoutingRule]) -> list[dict[str, Any]]:
    return [RuleIn.of(r).model_dump(mode="json") for r in rules]


def rules_from_json(data: Sequence[dict[str, Any]]) -> list[RoutingRule]:
    return [RuleIn.model_validate(item).to_domain() for item in data]
