"""Pure alarm logic: what a breach does to the alarm of its device and rule."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from riskwatch.common.events.base import Level


class Decision(StrEnum):
    RAISE = "raise"  # no active alarm for this device and rule: open one
    ESCALATE = "escalate"  # the active alarm reaches a higher level
    REPEAT = "repeat"  # the active alarm is breached again at its level or below


@dataclass(frozen=True, slots=True)
class ActiveAlarm:
    level: Level
    breach_count: int


def decide(active: ActiveAlarm | None, level: Level) -> Decision:
    """One alarm per device x rule: a repeated breach updates it, never opens a second one."""
    if active is None:
        return Decision.RAISE
    if level.rank > active.level.rank:
        return Decision.ESCALATE
    return Decision.REPEAT
