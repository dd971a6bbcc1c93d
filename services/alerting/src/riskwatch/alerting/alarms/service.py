"""Use cases of alarms: evaluate batches of readings against the rules; clear an alarm.

Both run inside the consumer's transaction and stage their events in the outbox.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.alerting.alarms.domain import (
    LIVENESS_RULE,
    AlarmState,
    Breach,
    apply_breach,
    liveness_action,
    offline_alarm,
)
from riskwatch.alerting.alarms.models import Alarm
from riskwatch.alerting.models import outbox
from riskwatch.alerting.rules.cache import RuleCache
from riskwatch.alerting.rules.domain import evaluate
from riskwatch.common import metrics
from riskwatch.common.access import DISTRICT, Scope
from riskwatch.common.errors import NotFound
from riskwatch.common.events import EventPayload, new_event
from riskwatch.common.events.alarms import AlarmCleared, AlarmRaised, ClearReason
from riskwatch.common.events.base import Level
from riskwatch.common.events.device_status import DeviceStatusChanged
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.events.readings import ReadingsAccepted
from riskwatch.common.events.topics import ALARMS
from riskwatch.common.pagination import keyset, page_of

SOURCE = "/riskwatch/alerting"


async def evaluate_readings(
    session: AsyncSession,
    *,
    events: Sequence[Envelope[EventPayload]],
    rules: RuleCache,
    now: datetime | None = None,
) -> list[Envelope[EventPayload]]:
    """Apply every reading of a batch, in order, to the alarms of the rules it breaches.

    The rules come from the cache; the active alarms of the devices that breached anything are
    loaded (and locked) in one query; a batch with no breach touches no alarm at all.
    """
    index = await rules.current(session)
    breaches: list[tuple[Breach, str | None]] = []
    evaluated = 0
    for envelope in events:
        data = envelope.data
        if not isinstance(data, ReadingsAccepted):
            continue
        for group in data.devices:
            device = group.device
            evaluated += len(group.readings)
            for reading in group.readings:
                for rule in index.get((device.scenario_id, reading.metric), ()):
                    hit = evaluate(rule, reading.value, reading.flags)
                    if hit is not None:
                        breach = Breach(
                            rule=rule,
                            device=device,
                            value=reading.value,
                            observed_at=reading.ts,
                            received_at=data.received_at,
                            level=hit[0],
                            threshold=hit[1],
                        )
                        breaches.append((breach, envelope.traceparent))
    metrics.READINGS.labels("alerting", "evaluated").inc(evaluated)
    if not breaches:
        return []
    now = now or datetime.now(UTC)
    rows = await session.scalars(
        select(Alarm)
        .where(
            Alarm.status == "active",
            Alarm.device_id.in_({b.device.device_id for b, _ in breaches}),
        )
        .order_by(Alarm.alarm_id)  # one lock order for every consumer
        .with_for_update()
    )
    alarms = {(a.device_id, a.rule_id): a for a in rows}
    states: dict[tuple[str, str], AlarmState] = {k: a.state() for k, a in alarms.items()}
    changed: set[tuple[str, str]] = set()
    staged: list[Envelope[EventPayload]] = []
    for breach, traceparent in breaches:
        key = (breach.device.device_id, breach.rule.rule_id)
        step = apply_breach(states.get(key), breach, now=now, new_alarm_id=str(uuid.uuid4()))
        states[key] = step.state
        changed.add(key)
        if step.event is not None:
            staged.append(
                new_event(
                    step.event,
                    source=SOURCE,
                    subject=step.state.alarm_id,
                    traceparent=traceparent,
                )
            )
    for key in changed:
        alarm = alarms.get(key)
        if alarm is None:
            session.add(Alarm.raised(states[key]))
        else:
            alarm.save(states[key])
    await session.flush()
    await outbox.add_many(session, [(ALARMS, e, e.subject) for e in staged])
    return staged


async def clear_alarm(
    session: AsyncSession,
    *,
    alarm_id: str,
    reason: ClearReason,
    work_order_id: str | None,
    traceparent: str | None,
    now: datetime | None = None,
) -> Alarm | None:
    """Clear an active alarm; returns None when it was already cleared (redelivery-safe)."""
    alarm = await session.get(Alarm, alarm_id, with_for_update=True)
    if alarm is None or alarm.status != "active":
        return None
    now = now or datetime.now(UTC)
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


async def apply_device_status(
    session: AsyncSession,
    *,
    status: DeviceStatusChanged,
    level: Level,
    traceparent: str | None,
) -> Alarm | None:
    """A device's liveness to its technical alarm (kind technical, rule and metric
    "liveness"): offline raises one (none if one is active already: a redelivery), online
    clears it as recovered. Returns the alarm raised or cleared, if any."""
    action = liveness_action(status.status, status.previous_status)
    if action is None:
        return None
    active = await session.scalar(
        select(Alarm)
        .where(
            Alarm.device_id == status.device.device_id,
            Alarm.rule_id == LIVENESS_RULE,
            Alarm.status == "active",
        )
        .with_for_update()
    )
    if action == "clear":
        if active is None:
            return None
        return await clear_alarm(
            session,
            alarm_id=active.alarm_id,
            reason="recovered",
            work_order_id=None,
            traceparent=traceparent,
            now=status.changed_at,
        )
    if active is not None:
        return None
    state = offline_alarm(
        status.device, at=status.changed_at, level=level, alarm_id=str(uuid.uuid4())
    )
    alarm = Alarm.raised(state)
    alarm.kind = "technical"
    session.add(alarm)
    await session.flush()
    await outbox.add(
        session, ALARMS, _event(AlarmRaised(alarm=alarm.snapshot()), alarm, traceparent)
    )
    return alarm


def _event(payload: EventPayload, alarm: Alarm, traceparent: str | None) -> Envelope[EventPayload]:
    return new_event(payload, source=SOURCE, subject=alarm.alarm_id, traceparent=traceparent)


async def get_alarm_or_raise(
    session: AsyncSession, *, alarm_id: str, scope: Scope = DISTRICT
) -> Alarm:
    alarm = await session.get(Alarm, alarm_id)
    if alarm is None or not scope.holds(alarm):  # outside the scope: as if it did not exist
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
    scope: Scope = DISTRICT,
) -> tuple[list[Alarm], str | None]:
    stmt = select(Alarm).where(scope.on(Alarm))
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
