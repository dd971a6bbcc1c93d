"""Pure alarm logic: what a breach of a rule does to the alarm of its device and rule.

`apply_breach` is the one transition: the active alarm (or none) plus a breach gives the new
alarm state and the event to publish, if any. The service loads the states of a batch's
devices, applies every breach in reading order, saves the states and stages the events.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from riskwatch.alerting.rules.domain import RuleSpec
from riskwatch.common.events.alarms import AlarmRaised, AlarmSnapshot, AlarmUpdated
from riskwatch.common.events.base import DeviceRef, Level


@dataclass(frozen=True, slots=True)
class Breach:
    """A reading that reached `level` of `rule`."""

    rule: RuleSpec
    device: DeviceRef
    value: float
    observed_at: datetime  # the reading's own timestamp
    received_at: datetime  # when ingest accepted it
    level: Level
    threshold: float


@dataclass(frozen=True, slots=True)
class AlarmState:
    """An active alarm: one per device x rule."""

    alarm_id: str
    rule_id: str
    rule_version: int
    device: DeviceRef
    metric: str
    level: Level
    value: float  # the reading that set the current level
    threshold: float
    observed_at: datetime
    received_at: datetime
    raised_at: datetime
    last_value: float  # the latest breaching reading
    last_observed_at: datetime
    breach_count: int
    updated_at: datetime

    def snapshot(self) -> AlarmSnapshot:
        return AlarmSnapshot(
            alarm_id=self.alarm_id,
            rule_id=self.rule_id,
            rule_version=self.rule_version,
            device=self.device,
            metric=self.metric,
            level=self.level,
            status="active",
            value=self.value,
            threshold=self.threshold,
            observed_at=self.observed_at,
            received_at=self.received_at,
            raised_at=self.raised_at,
            breach_count=self.breach_count,
        )


AlarmEvent = AlarmRaised | AlarmUpdated


@dataclass(frozen=True, slots=True)
class Transition:
    state: AlarmState
    event: AlarmEvent | None  # None: the alarm changed, but not in a way anyone is told of


def apply_breach(
    state: AlarmState | None, breach: Breach, *, now: datetime, new_alarm_id: str
) -> Transition:
    """One alarm per device x rule: the first breach raises it, a higher level escalates it,
    a breach at its level or below only counts (it never opens a second alarm)."""
    if state is None:
        raised = AlarmState(
            alarm_id=new_alarm_id,
            rule_id=breach.rule.rule_id,
            rule_version=breach.rule.version,
            device=breach.device,
            metric=breach.rule.metric,
            level=breach.level,
            value=breach.value,
            threshold=breach.threshold,
            observed_at=breach.observed_at,
            received_at=breach.received_at,
            raised_at=now,
            last_value=breach.value,
            last_observed_at=breach.observed_at,
            breach_count=1,
            updated_at=now,
        )
        return Transition(raised, AlarmRaised(alarm=raised.snapshot()))
    counted = replace(
        state,
        last_value=breach.value,
        last_observed_at=breach.observed_at,
        breach_count=state.breach_count + 1,
        updated_at=now,
    )
    if breach.level.rank <= state.level.rank:
        return Transition(counted, None)
    escalated = replace(
        counted,
        level=breach.level,
        value=breach.value,
        threshold=breach.threshold,
        observed_at=breach.observed_at,
        received_at=breach.received_at,
    )
    return Transition(
        escalated,
        AlarmUpdated(alarm=escalated.snapshot(), previous_level=state.level, updated_at=now),
    )


# -- technical alarms: a device offline (issue 11) -------------------------------------------

LIVENESS_RULE = "liveness"  # the rule id and metric of a device-offline alarm (no rule row)
LivenessAction = Literal["raise", "clear"]


def liveness_action(status: str, previous: str | None = "offline") -> LivenessAction | None:
    """What a device's new status does to its offline alarm: offline raises, online clears
    (recovered), anything else (fault: a rule's business, not liveness's) nothing. A device's
    first status (online at its first reading, `previous` None) has no alarm to clear: nothing,
    and no query (a fleet's first readings bring thousands of these at once)."""
    if status == "offline":
        return "raise"
    if status == "online":
        return "clear" if previous is not None else None
    return None


def offline_alarm(device: DeviceRef, *, at: datetime, level: Level, alarm_id: str) -> AlarmState:
    """The technical alarm of a device that went offline at `at`: value and threshold 0 (there
    is no reading), observed and received at the moment it went offline."""
    return AlarmState(
        alarm_id=alarm_id,
        rule_id=LIVENESS_RULE,
        rule_version=0,
        device=device,
        metric=LIVENESS_RULE,
        level=level,
        value=0.0,
        threshold=0.0,
        observed_at=at,
        received_at=at,
        raised_at=at,
        last_value=0.0,
        last_observed_at=at,
        breach_count=1,
        updated_at=at,
    )
