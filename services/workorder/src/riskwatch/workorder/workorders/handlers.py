"""Event handlers of workorder: thin adapters from consumed events to the use cases."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.events import EventPayload
from riskwatch.common.events.alarms import AlarmRaised, AlarmUpdated
from riskwatch.common.events.duty import DutyCenterChanged
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.inbox import EventHandler
from riskwatch.workorder.workorders.models import UnitMember, UnitVersion
from riskwatch.workorder.workorders.service import Loop, escalate_work_order, open_work_order


def on_alarm(loop: Loop, clock: Callable[[], datetime]) -> EventHandler:
    """The handler of `rw.alarms`: a raised alarm opens and dispatches its order, a higher
    level brings its limits forward.

    AlarmCleared needs nothing: an alarm cleared by its order's clear step is our own echo,
    and one that recovered or was cleared by hand still waits for the handler's feedback.
    A technical alarm (a device offline) is no safety event: no disposal order.
    """

    async def handle(session: AsyncSession, envelope: Envelope[EventPayload]) -> None:
        data = envelope.data
        if isinstance(data, AlarmRaised | AlarmUpdated) and data.alarm.kind == "technical":
            return
        if isinstance(data, AlarmRaised):
            await open_work_order(
                session, alarm=data.alarm, loop=loop, now=clock(), traceparent=envelope.traceparent
            )
        elif isinstance(data, AlarmUpdated):
            await escalate_work_order(
                session, alarm=data.alarm, loop=loop, now=clock(), traceparent=envelope.traceparent
            )

    return handle


async def on_duty(session: AsyncSession, envelope: Envelope[EventPayload]) -> None:
    """The handler of `rw.duty`: keep each unit's duty staff as its newest DutyCenterChanged
    says; an older one delivered late changes nothing. Rosters and check-ins are not ours."""
    data = envelope.data
    if not isinstance(data, DutyCenterChanged):
        return
    unit = data.duty_center_id
    known = await session.scalar(
        select(UnitVersion.changed_at).where(UnitVersion.unit_id == unit).with_for_update()
    )
    if known is not None and known > data.changed_at:
        return
    await session.execute(
        insert(UnitVersion)
        .values(unit_id=unit, name=data.name, active=data.active, changed_at=data.changed_at)
        .on_conflict_do_update(
            index_elements=[UnitVersion.unit_id],
            set_={"name": data.name, "active": data.active, "changed_at": data.changed_at},
        )
    )
    await session.execute(delete(UnitMember).where(UnitMember.unit_id == unit))
    members = set(data.member_ids) if data.active else set()
    if data.active and data.leader_id:
        members.add(data.leader_id)
    if members:
        await session.execute(
            insert(UnitMember),
            [
                {
                    "unit_id": unit,
                    "person_id": person,
                    "leader": person == data.leader_id,
                    "changed_at": data.changed_at,
                }
                for person in sorted(members)
            ],
        )
