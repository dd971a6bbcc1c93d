"""Event handlers of alerting: thin adapters from consumed events to the alarm use cases."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.alerting.alarms.service import apply_device_status, clear_alarm, evaluate_readings
from riskwatch.alerting.rules.cache import RuleCache
from riskwatch.common.events import EventPayload
from riskwatch.common.events.alarms import ClearReason
from riskwatch.common.events.base import Level
from riskwatch.common.events.device_status import DeviceStatusChanged
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.events.workorders import WorkOrderStateChanged
from riskwatch.common.inbox import EventHandler, EventsHandler


def readings_handler(rules: RuleCache) -> EventsHandler:
    async def on_readings(session: AsyncSession, events: Sequence[Envelope[EventPayload]]) -> None:
        await evaluate_readings(session, events=events, rules=rules)

    return on_readings


# What a work order's step does to its alarm; an order made by hand has no alarm and its
# alarm_id names none, so clearing finds nothing and does nothing.
_CLEARING: dict[str, ClearReason] = {
    "clear": "disposed",  # 处置销警
    "false_alarm": "false_alarm",
    "close": "work_order_closed",  # already cleared by the clear step: a no-op then
}


async def on_work_order(session: AsyncSession, envelope: Envelope[EventPayload]) -> None:
    """The handler's clear (销警) clears the alarm; a false alarm clears it labelled so."""
    data = envelope.data
    if isinstance(data, WorkOrderStateChanged) and data.action in _CLEARING:
        await clear_alarm(
            session,
            alarm_id=data.work_order.alarm_id,
            reason=_CLEARING[data.action],
            work_order_id=data.work_order.work_order_id,
            traceparent=envelope.traceparent,
        )


def device_status_handler(level: Level) -> EventHandler:
    """A device offline raises a technical alarm at `level`; back online clears it."""

    async def on_device_status(session: AsyncSession, envelope: Envelope[EventPayload]) -> None:
        if isinstance(envelope.data, DeviceStatusChanged):
            await apply_device_status(
                session, status=envelope.data, level=level, traceparent=envelope.traceparent
            )

    return on_device_status
