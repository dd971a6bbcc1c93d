"""Pure rule logic: which warning level a value reaches, and what makes thresholds coherent."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

from riskwatch.common.events.base import Level

Direction = Literal["above", "below"]
LEVELS_LOW_TO_HIGH = (Level.BLUE, Level.YELLOW, Level.ORANGE, Level.RED)


@dataclass(frozen=True, slots=True)
class Thresholds:
    blue: float | None = None
    yellow: float | None = None
    orange: float | None = None
    red: float | None = None

    def get(self, level: Level) -> float | None:
        value: float | None = getattr(self, level.value)
        return value

    def defined(self) -> list[tuple[Level, float]]:
        return [(lvl, t) for lvl in LEVELS_LOW_TO_HIGH if (t := self.get(lvl)) is not None]


def threshold_problems(direction: Direction, thresholds: Thresholds) -> list[str]:
    """Why these thresholds cannot work together; empty when they can.

    For "above", a higher level needs a higher (or equal) threshold; for "below", lower.
    """
    defined = thresholds.defined()
    if not defined:
        return ["at least one level needs a threshold"]
    problems = []
    for (low_level, low), (high_level, high) in pairwise(defined):
        ordered = high >= low if direction == "above" else high <= low
        if not ordered:
            relation = "at least" if direction == "above" else "at most"
            problems.append(
                f"{high_level.value} threshold {high} must be {relation} the "
                f"{low_level.value} threshold {low} for a rule that fires {direction}"
            )
    return problems


@dataclass(frozen=True, slots=True)
class RuleSpec:
    rule_id: str
    version: int
    scenario_id: str
    metric: str
    direction: Direction
    thresholds: Thresholds


def classify(rule: RuleSpec, value: float) -> tuple[Level, float] | None:
    """The highest level `value` reaches under `rule`, with that level's threshold."""
    reached: tuple[Level, float] | None = None
    for level, threshold in rule.thresholds.defined():
        crossed = value >= threshold if rule.direction == "above" else value <= threshold
        if crossed:
            reached = (level, threshold)
    return reached
