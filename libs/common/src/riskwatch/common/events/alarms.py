"""Topic `rw.alarms`, key `alarm_id`: an alarm was raised, changed, or cleared.

Every alarm event carries the alarm's current snapshot, so a consumer that sees only one of
them (a late-joining projection, a notification router) has all it needs.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, FiniteFloat

from riskwatch.common.events.base import DeviceRef, EventPayload, Level, Timestamp, event_type

AlarmStatus = Literal["active", "cleared"]
# safety: a threshold rule's alarm, for the duty chain and a work order; technical: the
# platform's own (a device offline), for technical staff only.
AlarmKind = Literal["safety", "technical"]
# disposed: its work order's handler cleared it (销警); false_alarm: its work order found it
# false; work_order_closed: its work order closed without a clear step before (an older loop).
ClearReason = Literal["disposed", "false_alarm", "work_order_closed", "manual", "recovered"]


class AlarmSnapshot(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    alarm_id: str
    rule_id: str
    rule_version: int
    device: DeviceRef
    metric: str
    level: Level
    status: AlarmStatus
    value: FiniteFloat
    threshold: FiniteFloat
    observed_at: Timestamp  # the reading's own timestamp
    received_at: Timestamp  # when ingest accepted that reading; latency is measured from here
    raised_at: Timestamp
    breach_count: int = 1
    kind: AlarmKind = "safety"


@event_type("rw.alarm.raised.v1")
class AlarmRaised(EventPayload):
    alarm: AlarmSnapshot


@event_type("rw.alarm.updated.v1")
class AlarmUpdated(EventPayload):
    alarm: AlarmSnapshot
    previous_level: Level
    updated_at: Timestamp


@event_type("rw.alarm.cleared.v1")
class AlarmCleared(EventPayload):
    alarm: AlarmSnapshot
    cleared_at: Timestamp
    reason: ClearReason
    work_order_id: str | None = None
