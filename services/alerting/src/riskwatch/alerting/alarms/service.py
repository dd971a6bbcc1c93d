"""Use cases of alarms: evaluate a device's readings against its rules; clear an alarm.

Both run inside the consumer's transaction and stage their events in the outbox.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.alerting.alarms.domain import ActiveAlarm, Decision, decide
from riskwatch.alerting.alarms.models import Alarm
from riskwatch.alerting.models import outbox
from riskwatch.alerting.rules.domain import classify
from riskwatch.alerting.rules.service import rules_for
from riskwatch.common import metrics
from riskwatch.common.errors import NotFound
from riskwatch.common.events import EventPayload, Level, new_event
from riskwatch.common.events.alarms import AlarmCleared, AlarmRaised, AlarmUpdated, ClearReason
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.events.readings import ReadingsAccepted
from riskwatch.common.events.topics import ALARMS
from riskwatch.common.pagination import keyset, page_of

SOURCE = "/riskwatch/alerting"


async def evaluate_readings(
    session: AsyncSession, *, batch: ReadingsAccepted, traceparent: str | None
) -> list[Envelope[EventPayload]]:
    """Apply every reading of one device, in time order, to the alarms of its rules."""
    device = batch.device
    rules = await rules_for(
        session, scenario_id=device.scenario_id, metrics={r.metric for r in batch.readings}
    )
    metrics.READINGS.labels("alerting", "evaluated").inc(len(batch.readings))
    if not rules:
        return []
    rows = await session.scalars(
        select(Alarm)
        .where(
            Alarm.device_id == device.device_id,
            Alarm.status == "active",
            Alarm.rule_id.in_([r.rule_id for r in rules]),
        )
        .with_for_update()
    )
    active = {a.rule_id: a for a in rows}
    events: list[Envelope[EventPayload]] = []
    now = datetime.now(UTC)
    for reading in sorted(batch.readings, key=lambda r: r.ts):
        for rule in rules:
            if rule.metric != reading.metric:
                continue
            hit = classify(rule.spec(), reading.value)
            if hit is None:
                continue
            level, threshold = hit
            alarm = active.get(rule.rule_id)
            state = ActiveAlarm(Level(alarm.level), alarm.breach_count) if alarm else None
            decision = decide(state, level)
            if decision is Decision.RAISE:
                alarm = Alarm(
                    alarm_id=str(uuid.uuid4()),
                    rule_id=rule.rule_id,
                    rule_version=rule.version,
                    device_id=device.device_id,
                    device=device.model_dump(mode="json"),
                    sector_id=device.sector_id,
                    scenario_id=device.scenario_id,
                    town_id=device.town_id,
                    metric=reading.metric,
                    level=level.value,
                    status="active",
                    value=reading.value,
                    threshold=threshold,
                    observed_at=reading.ts,
                    received_at=batch.received_at,
                    raised_at=now,
                    last_value=reading.value,
                    last_observed_at=reading.ts,
                    breach_count=1,
                    updated_at=now,
                )
                session.add(alarm)
                active[rule.rule_id] = alarm
                events.append(_event(AlarmRaised(alarm=alarm.snapshot()), alarm, traceparent))
                continue
            assert alarm is not None  # noqa: S101 - decide() raises only when there is none
            alarm.breach_count += 1
            alarm.last_value = reading.value
            alarm.last_observed_at = reading.ts
            alarm.updated_at = now
            if decision is Decision.ESCALATE:
                previous = Level(alarm.level)
                alarm.level = level.value
                alarm.value = reading.value
                alarm.threshold = threshold
                alarm.observed_at = reading.ts
                alarm.received_at = batch.received_at
                events.append(
                    _event(
                        AlarmUpdated(
                            alarm=alarm.snapshot(), previous_level=previous, updated_at=now
                        ),
                        alarm,
                        traceparent,
                    )
                )
    await session.flush()
    await outbox.add_many(session, [(ALARMS, e, e.subject) for e in events])
    return events


async def clear_alarm(
    session: AsyncSession,
    *,
    alarm_id: str,
    reason: ClearReason,
    work_order_id: str | None,
    traceparent: str | None,
) -> Alarm | None:
    """Clear an active alarm; returns None when it was already cleared (redelivery-safe)."""
    alarm = await session.get(Alarm, alarm_id, with_for_update=True)
    if alarm is None or alarm.status != "active":
        return None
    now = datetime.now(UTC)
    alarm.status = "cleared"
    alarm.cleared_at = now
    alarm.cleared_reason = reason
    alarm.work_order_id = work_order_id
    alarm.updated_at = now
    await session.flush()
    event = AlarmCleared(
        alarm=alarm.snapshot(),
        cleared_at=now,
        reason=reason,
        work_order_id=work_order_id,
    )
    await outbox.add(session, ALARMS, _event(event, alarm, traceparent))
    return alarm


def _event(payload: EventPayload, alarm: Alarm, traceparent: str | None) -> Envelope[EventPayload]:
    return new_event(payload, source=SOURCE, subject=alarm.alarm_id, traceparent=traceparent)


async def get_alarm_or_raise(session: AsyncSession, *, alarm_id: str) -> Alarm:
    alarm = await session.get(Alarm, alarm_id)
    if alarm is None:
        raise NotFound(f"No alarm {alarm_id!r}.")
    return alarm


async def list_alarms(
    session: AsyncSession,
    *,
    alarm_id: str | None,
    level: str | None,
    status: str | None,
    sector_id: str | None,
    device_id: str | None,
    rule_id: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[Alarm], str | None]:
    stmt = select(Alarm)
    filters = [
        (Alarm.alarm_id, alarm_id),
        (Alarm.level, level),
        (Alarm.status, status),
        (Alarm.sector_id, sector_id),
        (Alarm.device_id, device_id),
        (Alarm.rule_id, rule_id),
    ]
    for column, value in filters:
        if value is not None:
            stmt = stmt.where(column == value)
    stmt = keyset(stmt, at=Alarm.raised_at, id_=Alarm.alarm_id, cursor=cursor, limit=limit)
    return page_of((await session.scalars(stmt)).all(), limit=limit, at="raised_at", id_="alarm_id")
