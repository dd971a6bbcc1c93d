"""Event handlers of alerting: thin adapters from consumed events to the alarm use cases."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.alerting.alarms.service import clear_alarm, evaluate_readings
from riskwatch.alerting.rules.cache import RuleCache
from riskwatch.common.events import EventPayload
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.events.workorders import WorkOrderStateChanged
from riskwatch.common.inbox import EventsHandler


def readings_handler(rules: RuleCache) -> EventsHandler:
    async def on_readings(session: AsyncSession, events: Sequence[Envelope[EventPayload]]) -> None:
        await evaluate_readings(session, events=events, rules=rules)

    return on_readings


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
