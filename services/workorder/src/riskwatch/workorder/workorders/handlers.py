"""Event handlers of workorder: thin adapters from alarm events to the work-order use cases."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.events import EventPayload
from riskwatch.common.events.alarms import AlarmRaised, AlarmUpdated
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.inbox import EventHandler
from riskwatch.workorder.workorders.domain import DeadlinePolicy
from riskwatch.workorder.workorders.service import escalate_work_order, open_work_order


def on_alarm(policy: DeadlinePolicy) -> EventHandler:
    """The handler of `rw.alarms` under the configured deadline policy.

    AlarmCleared needs nothing: an alarm cleared by its closed work order is our own echo, and
    one that recovered or was cleared by hand still waits for the handler's feedback.
    """

    async def handle(session: AsyncSession, envelope: Envelope[EventPayload]) -> None:
        data = envelope.data
        if isinstance(data, AlarmRaised):
            await open_work_order(
                session, alarm=data.alarm, policy=policy, traceparent=envelope.traceparent
            )
        elif isinstance(data, AlarmUpdated):
            await escalate_work_order(
                session, alarm=data.alarm, policy=policy, traceparent=envelope.traceparent
            )

    return handle
