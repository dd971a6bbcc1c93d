"""Builders for workorder tests: alarm snapshots and the alarm events alerting would send."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from riskwatch.common.events import EventPayload, new_event
from riskwatch.common.events.alarms import AlarmCleared, AlarmRaised, AlarmSnapshot, AlarmUpdated
from riskwatch.common.events.base import DeviceRef, Level
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.tracing import new_trace

T0 = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
ALERTING = "/riskwatch/alerting"


def device(device_id: str = "gas-001", sector_id: str = "construction") -> DeviceRef:
    return DeviceRef(
        device_id=device_id,
        sector_id=sector_id,
        scenario_id="gas",
        town_id="lujiazui",
        name=f"{device_id} well",
    )


def alarm(
    level: Level = Level.YELLOW,
    *,
    alarm_id: str | None = None,
    dev: DeviceRef | None = None,
    value: float = 22.0,
) -> AlarmSnapshot:
    return AlarmSnapshot(
        alarm_id=alarm_id or str(uuid.uuid4()),
        rule_id="gas-lel",
        rule_version=1,
        device=dev or device(),
        metric="ch4_lel",
        level=level,
        status="active",
        value=value,
        threshold=20.0,
        observed_at=T0,
        received_at=T0,
        raised_at=T0,
    )


def _event(payload: EventPayload, snapshot: AlarmSnapshot) -> Envelope[EventPayload]:
    return new_event(
        payload, source=ALERTING, subject=snapshot.alarm_id, traceparent=new_trace().traceparent
    )


def raised(snapshot: AlarmSnapshot) -> Envelope[EventPayload]:
    return _event(AlarmRaised(alarm=snapshot), snapshot)


def updated(snapshot: AlarmSnapshot, level: Level) -> Envelope[EventPayload]:
    previous = snapshot.level
    higher = snapshot.model_copy(update={"level": level})
    return _event(AlarmUpdated(alarm=higher, previous_level=previous, updated_at=T0), higher)


def cleared(snapshot: AlarmSnapshot) -> Envelope[EventPayload]:
    done = snapshot.model_copy(update={"status": "cleared"})
    return _event(AlarmCleared(alarm=done, cleared_at=T0, reason="recovered"), done)
