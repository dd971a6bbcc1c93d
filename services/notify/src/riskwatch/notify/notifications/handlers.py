"""Event handlers of notify: thin adapters from alarm events to planning notifications."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.catalog import Catalog
from riskwatch.common.events import EventPayload
from riskwatch.common.events.alarms import AlarmRaised, AlarmSnapshot, AlarmUpdated
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.events.workorders import (
    WorkOrderCreated,
    WorkOrderOverdue,
    WorkOrderStateChanged,
)
from riskwatch.common.inbox import EventHandler
from riskwatch.notify.duty.handover import project_alarm, project_work_order
from riskwatch.notify.notifications.service import plan_notifications


def alarm_handler(catalog: Catalog, *, grace: timedelta) -> EventHandler:
    """Alarms and work orders: every event keeps the open items a handover attaches; a raised
    alarm, or one escalated to a higher level, goes to whoever is on duty now.

    AlarmCleared plans nothing (telling people an alarm is over comes with escalation).
    """

    async def on_alarm(session: AsyncSession, envelope: Envelope[EventPayload]) -> None:
        data = envelope.data
        now = datetime.now(UTC)
        if isinstance(data, WorkOrderCreated | WorkOrderStateChanged | WorkOrderOverdue):
            await project_work_order(session, data=data, now=now)
            return
        await project_alarm(session, data=data, now=now)
        # Level is a StrEnum: compare ranks, never the strings.
        if isinstance(data, AlarmRaised) or (
            isinstance(data, AlarmUpdated) and data.alarm.level.rank > data.previous_level.rank
        ):
            await _plan(session, data.alarm, envelope.traceparent)

    async def _plan(session: AsyncSession, alarm: AlarmSnapshot, traceparent: str | None) -> None:
        town = catalog.town(alarm.device.town_id) if alarm.device.town_id else None
        await plan_notifications(
            session,
            alarm=alarm,
            place=town.name if town else None,
            traceparent=traceparent,
            now=datetime.now(UTC),
            grace=grace,
        )

    return on_alarm
