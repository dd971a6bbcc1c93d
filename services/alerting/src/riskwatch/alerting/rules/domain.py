"""Pure rule logic: which warning level a value reaches, which readings a rule leaves aside (its
ignored quality flags), and what makes thresholds coherent."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

from riskwatch.common.events.base import Level
from riskwatch.common.events.readings import FLAG_NAMES

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


# The quality flags a rule may ignore, by the names the contract gives them (Reading.flags).
FLAG_BITS: dict[str, int] = {name: int(flag) for name, flag in FLAG_NAMES}


def flag_mask(names: Iterable[str]) -> int:
    """The bitmask of quality flags named; a name the contract no longer knows counts for
    nothing (the API refuses unknown names, so only a flag dropped later gets here)."""
    mask = 0
    for name in names:
        mask |= FLAG_BITS.get(name, 0)
    return mask


def flag_names_in_order(names: Iterable[str]) -> list[str]:
    """Known flag names, each once, in bit order: how a rule keeps and shows them."""
    wanted = set(names)
    return [name for name, _ in FLAG_NAMES if name in wanted]


@dataclass(frozen=True, slots=True)
class RuleSpec:
    rule_id: str
    version: int
    scenario_id: str
    metric: str
    direction: Direction
    thresholds: Thresholds
    # Readings carrying any of these quality flags (a bitmask of Reading.flags) are left aside
    # by this rule; 0 evaluates every reading.
    ignore_mask: int = 0


def evaluate(rule: RuleSpec, value: float, flags: int) -> tuple[Level, float] | None:
    """What one reading does under `rule`: None when it carries a quality flag the rule
    ignores (it neither raises, escalates nor counts towards an alarm: as if it never came),
    else the highest level its value reaches (classify). The hot path: one bitmask test per
    reading and rule, nothing allocated for a reading left aside."""
    if flags & rule.ignore_mask:
        return None
    return classify(rule, value)


def classify(rule: RuleSpec, value: float) -> tuple[Level, float] | None:
    """The highest level `value` reaches under `rule`, with that level's threshold."""
    reached: tuple[Level, float] | None = None
    for level, threshold in rule.thresholds.defined():
        crossed = value >= threshold if rule.direction == "above" else value <= threshold
        if crossed:
            reached = (level, threshold)
    return reached
