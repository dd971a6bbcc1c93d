"""Event handlers of alerting: thin adapters from consumed events to the alarm use cases."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.alerting.alarms.service import clear_alarm, evaluate_readings
from riskwatch.common.events import EventPayload
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.events.readings import ReadingsAccepted
from riskwatch.common.events.workorders import WorkOrderStateChanged


async def on_readings(session: AsyncSession, envelope: Envelope[EventPayload]) -> None:
    if isinstance(envelope.data, ReadingsAccepted):
        await evaluate_readings(session, batch=envelope.data, traceparent=envelope.traceparent)


async def on_work_order(session: AsyncSession, envelope: Envelope[EventPayload]) -> None:
    """A closed work order clears its alarm: the closed loop ends here."""
    data = envelope.data
    if isinstance(data, WorkOrderStateChanged) and data.to_status == "closed":
        await clear_alarm(
            session,
            alarm_id=data.work_order.alarm_id,
            reason="work_order_closed",
            work_order_id=data.work_order.work_order_id,
            traceparent=envelope.traceparent,
        )
