"""Event handlers of notify: thin adapters from alarm events to planning notifications."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.catalog import Catalog
from riskwatch.common.events import EventPayload
from riskwatch.common.events.alarms import AlarmCleared, AlarmRaised, AlarmSnapshot, AlarmUpdated
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.events.workorders import (
    WorkOrderBulletinPublished,
    WorkOrderCreated,
    WorkOrderDeadlineApproaching,
    WorkOrderOverdue,
    WorkOrderStateChanged,
)
from riskwatch.common.inbox import EventHandler
from riskwatch.notify.devices.notices import notify_device
from riskwatch.notify.duty.handover import project_alarm, project_work_order
from riskwatch.notify.escalation.service import (
    accept_escalation,
    clear_escalation,
    start_escalation,
)
from riskwatch.notify.notifications.storm import StormCaps
from riskwatch.notify.workorders.notices import notify_bulletin, notify_work_order

AlarmEvent = AlarmRaised | AlarmUpdated | AlarmCleared
WorkOrderEvent = (
    WorkOrderCreated | WorkOrderStateChanged | WorkOrderDeadlineApproaching | WorkOrderOverdue
)


def alarm_handler(
    catalog: Catalog,
    *,
    grace: timedelta,
    caps: StormCaps,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> EventHandler:
    """Alarms and work orders: every event keeps the open items a handover attaches; a raised
    alarm, or one raised to a higher level, starts its escalation (whose first step goes to
    whoever is on duty now); its work order accepted (接单), or the alarm cleared, stops it. A
    work order handed to someone, near or past a stage's limit, or raised to a higher loop
    tier, and the weekly overdue bulletin, notify the people concerned (workorders.notices).
    A technical alarm (a device offline) starts no escalation and is no handover item: it tells
    the technical staff over the device (devices.notices), and its clearing that the device is
    back online."""

    async def on_alarm(session: AsyncSession, envelope: Envelope[EventPayload]) -> None:
        data = envelope.data
        now = clock()
        if isinstance(data, WorkOrderBulletinPublished):
            await notify_bulletin(
                session, data=data, catalog=catalog, now=now, traceparent=envelope.traceparent
            )
            return
        if isinstance(data, WorkOrderEvent):
            await project_work_order(session, data=data, now=now)
            if isinstance(data, WorkOrderStateChanged) and data.action == "accept":
                await accept_escalation(
                    session,
                    alarm_id=data.work_order.alarm_id,
                    by=data.actor,
                    at=data.changed_at,
                    now=now,
                )
            await notify_work_order(
                session,
                data=data,
                catalog=catalog,
                now=now,
                grace=grace,
                caps=caps,
                traceparent=envelope.traceparent,
            )
            return
        if isinstance(data, AlarmEvent) and data.alarm.kind == "technical":
            # A device offline is no safety alarm: no duty escalation, no handover item.
            await notify_device(
                session,
                data=data,
                catalog=catalog,
                now=now,
                caps=caps,
                traceparent=envelope.traceparent,
            )
            return
        await project_alarm(session, data=data, now=now)
        # Level is a StrEnum: compare ranks, never the strings.
        if isinstance(data, AlarmCleared):
            await clear_escalation(session, alarm_id=data.alarm.alarm_id, now=now)
        elif isinstance(data, AlarmRaised) or (
            isinstance(data, AlarmUpdated) and data.alarm.level.rank > data.previous_level.rank
        ):
            await _start(session, data.alarm, envelope.traceparent, now)

    async def _start(
        session: AsyncSession, alarm: AlarmSnapshot, traceparent: str | None, now: datetime
    ) -> None:
        town = catalog.town(alarm.device.town_id) if alarm.device.town_id else None
        await start_escalation(
            session,
            alarm=alarm,
            place=town.name if town else None,
            traceparent=traceparent,
            now=now,
            grace=grace,
            caps=caps,
        )

    return on_alarm
