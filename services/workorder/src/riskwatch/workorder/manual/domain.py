"""The command manual (指挥手册) as data, pure: for each scenario x rule x level, who disposes
of a warning, how, within which limits, and what the closure must hold (seed 003 art. 9).

A version is drafted, then approved by a department head other than its author; the newest
approved version applies to orders created after its approval.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from riskwatch.common.access import ROLES
from riskwatch.common.catalog import Catalog
from riskwatch.common.events.base import Level
from riskwatch.common.events.duty import DISTRICT_CENTER_ID, sector_center_id, street_center_id
from riskwatch.common.events.workorders import STAGES, LoopTier
from riskwatch.workorder.workorders.domain import ClosureRules, StageLimits

ManualStatus = Literal["draft", "approved", "superseded"]
DisposalType = Literal["on_site", "remote", "joint"]  # 现场处置, 远程处置, 联合处置
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
UNIT_PLACEHOLDERS = frozenset({"town_id", "sector_id"})
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


_MINUTES = Field(gt=0, le=60 * 24 * 90)


class Limits(BaseModel):
    """Minutes from the order's creation by which each stage must be done (fractions allowed:
    0.5 is 30 s, for drills and tests)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    accept: float = _MINUTES
    on_site: float = _MINUTES
    clear: float = _MINUTES
    feedback: float = _MINUTES
    close: float = _MINUTES

    @model_validator(mode="after")
    def _ordered(self) -> Limits:
        values = [getattr(self, s) for s in STAGES]
        if values != sorted(values):
            raise ValueError(
                "limits count from creation: accept <= on_site <= clear <= feedback <= close"
            )
        return self

    def stage_limits(self) -> StageLimits:
        return StageLimits(**{s: timedelta(minutes=getattr(self, s)) for s in STAGES})


class ManualEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    scenario_id: Name
    rule_id: Name | None = None  # None: every rule of the scenario
    level: Level | None = None  # None: every level
    # A duty center id; "{town_id}" / "{sector_id}" are the order's, e.g. "street-{town_id}".
    unit: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    handler_role: Name = "handler"
    assignee: Name | None = None  # a named person of the unit, when the manual names one
    disposal_standard: Annotated[str, StringConstraints(min_length=1, max_length=4000)]
    disposal_type: DisposalType = "on_site"
    tier: LoopTier = "small"
    limits: Limits
    required_fields: list[Name] = Field(default_factory=list, max_length=20)
    photos_required: int = Field(default=0, ge=0, le=20)

    @model_validator(mode="after")
    def _known(self) -> ManualEntry:
        unknown = set(_PLACEHOLDER.findall(self.unit)) - UNIT_PLACEHOLDERS
        if unknown:
            raise ValueError(f"unit {self.unit!r}: unknown placeholder(s) {sorted(unknown)}")
        if self.handler_role not in ROLES:
            raise ValueError(f"unknown handler role {self.handler_role!r}")
        return self

    @property
    def key(self) -> tuple[str, str | None, Level | None]:
        return (self.scenario_id, self.rule_id, self.level)

    def closure_rules(self) -> ClosureRules:
        return ClosureRules(
            required_fields=tuple(self.required_fields), photos_required=self.photos_required
        )


class ManualBody(BaseModel):
    """A command manual as drafted or imported (JSON or YAML)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    note: Annotated[str, StringConstraints(max_length=2000)] | None = None
    entries: list[ManualEntry] = Field(min_length=1, max_length=5000)


def manual_problems(body: ManualBody, catalog: Catalog) -> list[str]:
    """Everything wrong with a manual against the catalog; [] when it may be saved."""
    problems: list[str] = []
    scenarios = {s.id for s in catalog.scenarios}
    seen: set[tuple[str, str | None, Level | None]] = set()
    for index, entry in enumerate(body.entries):
        where = f"entry {index} ({entry.scenario_id}/{entry.rule_id or '*'}/"
        where += f"{entry.level.value if entry.level else '*'})"
        if entry.scenario_id not in scenarios:
            problems.append(f"{where}: unknown scenario {entry.scenario_id!r}")
        if entry.key in seen:
            problems.append(f"{where}: the same scenario, rule and level twice")
        seen.add(entry.key)
    return problems


def find_entry(
    entries: list[ManualEntry], *, scenario_id: str, rule_id: str | None, level: Level
) -> ManualEntry | None:
    """The most specific entry: the rule's over the scenario's, a level's over any level's."""
    by_key = {e.key: e for e in entries}
    for key in (
        (scenario_id, rule_id, level),
        (scenario_id, rule_id, None),
        (scenario_id, None, level),
        (scenario_id, None, None),
    ):
        found = by_key.get(key)
        if found is not None:
            return found
    return None


def resolve_unit(template: str, *, town_id: str | None, sector_id: str) -> str | None:
    """The duty center a unit template names for an order; None when it needs a town the
    order does not have."""
    if "{town_id}" in template and town_id is None:
        return None
    return template.replace("{town_id}", town_id or "").replace("{sector_id}", sector_id)


def default_unit(*, town_id: str | None, sector_id: str) -> str:
    """Without a manual entry: the street duty center first (seed 000 §五), else the sector's."""
    return street_center_id(town_id) if town_id else sector_center_id(sector_id)


def fallback_unit(*, sector_id: str) -> str:
    """Where an entry's unit cannot be resolved (a town-less order): the sector, else the
    district."""
    return sector_center_id(sector_id) if sector_id else DISTRICT_CENTER_ID
