"""Work-order use cases against real PostgreSQL: one order per alarm however often it is
delivered, escalation, every transition with its history row and outbox event, and refusals."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.errors import InvalidState, NotFound
from riskwatch.common.events import EventPayload, decode
from riskwatch.common.events.base import Level
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.events.workorders import WorkOrderCreated, WorkOrderStateChanged
from riskwatch.common.migrate import alembic_config
from riskwatch.common.tracing import trace_id_of
from riskwatch.workorder.models import outbox
from riskwatch.workorder.module import MIGRATIONS
from riskwatch.workorder.workorders import service
from riskwatch.workorder.workorders.domain import DEFAULT_POLICY, Action
from riskwatch.workorder.workorders.handlers import on_alarm
from riskwatch.workorder.workorders.models import WorkOrder, WorkOrderEvent

from .. import factories as f

handle = on_alarm(DEFAULT_POLICY)


async def staged(session: AsyncSession) -> list[tuple[str, str | None, Envelope[EventPayload]]]:
    """(topic, key, event) of every outbox row, in order."""
    rows = (await session.execute(select(outbox.table).order_by(outbox.table.c.id))).all()
    return [
        (r.topic, r.key, decode([(k, v.encode()) for k, v in r.headers.items()], r.value))
        for r in rows
    ]


async def orders(session: AsyncSession) -> list[WorkOrder]:
    return list((await session.scalars(select(WorkOrder))).all())


async def history(session: AsyncSession, order: WorkOrder) -> list[tuple[str, str | None, str]]:
    rows = await service.list_history(session, work_order_id=order.work_order_id)
    return [(h.action, h.from_status, h.to_status) for h in rows]


async def opened(session: AsyncSession, level: Level = Level.YELLOW) -> WorkOrder:
    order = await service.open_work_order(
        session, alarm=f.alarm(level), policy=DEFAULT_POLICY, traceparent=None
    )
    assert order is not None
    return order


async def test_models_and_migrations_agree(workorder_db: str) -> None:
    # Raises when autogenerate would find anything to add, drop or change.
    await asyncio.to_thread(command.check, alembic_config(MIGRATIONS, workorder_db))


async def test_an_alarm_delivered_again_opens_one_work_order(session: AsyncSession) -> None:
    alarm = f.alarm(Level.YELLOW)
    first = f.raised(alarm)
    await handle(session, first)
    await handle(session, first)  # the same event redelivered (past the inbox)
    await handle(session, f.raised(alarm))  # a duplicate with a new event id
    (order,) = await orders(session)
    assert (order.alarm_id, order.level, order.status) == (alarm.alarm_id, "yellow", "open")
    assert (order.sector_id, order.device_id, order.town_id) == (
        "construction",
        "gas-001",
        "lujiazui",
    )
    assert order.due_at - order.created_at == timedelta(hours=24)
    assert order.title == "Yellow alarm: ch4_lel 22 (threshold 20) at gas-001 well"
    assert await history(session, order) == [("create", None, "open")]
    events = await staged(session)
    assert len(events) == 1
    topic, key, event = events[0]
    assert (topic, key, event.subject) == ("rw.workorders", alarm.alarm_id, alarm.alarm_id)
    assert isinstance(event.data, WorkOrderCreated)
    assert event.data.work_order == order.snapshot()
    assert trace_id_of(event.traceparent) == trace_id_of(first.traceparent)


async def test_the_deadline_follows_the_policy(session: AsyncSession) -> None:
    policy = DEFAULT_POLICY.__class__(
        red=timedelta(minutes=30),
        orange=timedelta(hours=1),
        yellow=timedelta(hours=2),
        blue=timedelta(hours=3),
    )
    await on_alarm(policy)(session, f.raised(f.alarm(Level.ORANGE)))
    (order,) = await orders(session)
    assert order.due_at - order.created_at == timedelta(hours=1)


async def test_escalation_raises_the_level_and_brings_the_deadline_forward(
    session: AsyncSession,
) -> None:
    alarm = f.alarm(Level.YELLOW)
    await handle(session, f.raised(alarm))
    await handle(session, f.updated(alarm, Level.RED))
    (order,) = await orders(session)
    assert order.level == "red"
    assert order.due_at - order.created_at == timedelta(hours=2)
    rows = await service.list_history(session, work_order_id=order.work_order_id)
    assert [(h.action, h.from_status, h.to_status, h.actor) for h in rows] == [
        ("create", None, "open", "system"),
        ("escalate", "open", "open", "system"),
    ]
    assert rows[1].note is not None
    assert rows[1].note.startswith("level yellow -> red; due ")
    # No event type exists for an escalation: the outbox holds only the creation.
    assert [type(e.data) for _, _, e in await staged(session)] == [WorkOrderCreated]


async def test_an_update_to_a_lower_or_equal_level_changes_nothing(session: AsyncSession) -> None:
    alarm = f.alarm(Level.ORANGE)
    await handle(session, f.raised(alarm))
    before = (await orders(session))[0].due_at
    await handle(session, f.updated(alarm, Level.ORANGE))
    await handle(session, f.updated(alarm, Level.BLUE))
    (order,) = await orders(session)
    assert (order.level, order.due_at) == ("orange", before)
    assert await history(session, order) == [("create", None, "open")]


async def test_an_update_for_an_unknown_alarm_opens_its_work_order(session: AsyncSession) -> None:
    alarm = f.alarm(Level.YELLOW)
    await handle(session, f.updated(alarm, Level.RED))
    (order,) = await orders(session)
    assert (order.alarm_id, order.level) == (alarm.alarm_id, "red")
    assert order.due_at - order.created_at == timedelta(hours=2)
    assert [type(e.data) for _, _, e in await staged(session)] == [WorkOrderCreated]


async def test_a_cleared_alarm_changes_nothing(session: AsyncSession) -> None:
    alarm = f.alarm(Level.YELLOW)
    await handle(session, f.raised(alarm))
    await handle(session, f.cleared(alarm))
    (order,) = await orders(session)
    assert order.status == "open"
    assert len(await staged(session)) == 1


async def test_accept_dispose_close(session: AsyncSession) -> None:
    order = await opened(session)
    await service.accept_work_order(
        session, work_order_id=order.work_order_id, actor="li.wei", note="on my way"
    )
    await service.dispose_work_order(
        session, work_order_id=order.work_order_id, actor="li.wei", note="valve closed"
    )
    await service.close_work_order(
        session, work_order_id=order.work_order_id, actor="zhang.min", feedback="leak repaired"
    )
    assert order.status == "closed"
    assert (order.accepted_by, order.disposed_by, order.closed_by) == (
        "li.wei",
        "li.wei",
        "zhang.min",
    )
    assert (order.disposal_note, order.feedback) == ("valve closed", "leak repaired")
    assert order.accepted_at is not None
    assert order.disposed_at is not None
    assert order.closed_at is not None
    assert order.accepted_at <= order.disposed_at <= order.closed_at
    assert await history(session, order) == [
        ("create", None, "open"),
        ("accept", "open", "accepted"),
        ("dispose", "accepted", "disposed"),
        ("close", "disposed", "closed"),
    ]
    events = await staged(session)
    changes = [e.data for _, _, e in events if isinstance(e.data, WorkOrderStateChanged)]
    assert [(c.action, c.from_status, c.to_status, c.actor, c.note) for c in changes] == [
        ("accept", "open", "accepted", "li.wei", "on my way"),
        ("dispose", "accepted", "disposed", "li.wei", "valve closed"),
        ("close", "disposed", "closed", "zhang.min", "leak repaired"),
    ]
    assert changes[-1].work_order.status == "closed"
    assert {(topic, key) for topic, key, _ in events} == {("rw.workorders", order.alarm_id)}


async def test_closing_from_accepted_records_the_disposal(session: AsyncSession) -> None:
    order = await opened(session)
    await service.accept_work_order(
        session, work_order_id=order.work_order_id, actor="a", note=None
    )
    await service.close_work_order(
        session, work_order_id=order.work_order_id, actor="b", feedback="false alarm, sensor wet"
    )
    assert order.status == "closed"
    assert (order.disposed_by, order.disposed_at) == ("b", order.closed_at)
    assert await history(session, order) == [
        ("create", None, "open"),
        ("accept", "open", "accepted"),
        ("close", "accepted", "closed"),
    ]


async def test_a_closed_work_order_ignores_escalation(session: AsyncSession) -> None:
    alarm = f.alarm(Level.BLUE)
    await handle(session, f.raised(alarm))
    (order,) = await orders(session)
    await service.accept_work_order(
        session, work_order_id=order.work_order_id, actor="a", note=None
    )
    await service.close_work_order(
        session, work_order_id=order.work_order_id, actor="a", feedback="done"
    )
    due = order.due_at
    await handle(session, f.updated(alarm, Level.RED))
    assert (order.level, order.due_at, order.status) == ("blue", due, "closed")


@pytest.mark.parametrize(
    ("path", "action"),
    [
        ([], "dispose"),
        ([], "close"),
        (["accept"], "accept"),
        (["accept", "dispose"], "dispose"),
        (["accept", "dispose"], "accept"),
        (["accept", "close"], "close"),
        (["accept", "close"], "accept"),
        (["accept", "dispose", "close"], "dispose"),
    ],
)
async def test_a_step_out_of_order_is_invalid_state(
    session: AsyncSession, path: list[Action], action: Action
) -> None:
    order = await opened(session)
    for step in path:
        await _do(session, order, step)
    status = order.status
    rows_before = await session.scalar(select(func.count()).select_from(WorkOrderEvent))
    events_before = len(await staged(session))
    with pytest.raises(InvalidState) as refused:
        await _do(session, order, action)
    assert refused.value.extensions == {"work_order_status": status, "action": action}
    assert order.status == status
    assert await session.scalar(select(func.count()).select_from(WorkOrderEvent)) == rows_before
    assert len(await staged(session)) == events_before


async def test_an_unknown_work_order_is_not_found(session: AsyncSession) -> None:
    with pytest.raises(NotFound):
        await service.accept_work_order(session, work_order_id="nope", actor="a", note=None)
    with pytest.raises(NotFound):
        await service.get_work_order_or_raise(session, work_order_id="nope")


async def test_list_filters_and_pages_newest_first(session: AsyncSession) -> None:
    red = await opened(session, Level.RED)
    blue = await opened(session, Level.BLUE)
    other = await service.open_work_order(
        session,
        alarm=f.alarm(Level.RED, dev=f.device("pipe-7", sector_id="oil-gas")),
        policy=DEFAULT_POLICY,
        traceparent=None,
    )
    assert other is not None
    await _do(session, red, "accept")

    async def ids(
        *,
        alarm_id: str | None = None,
        level: str | None = None,
        status: str | None = None,
        sector_id: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> list[str]:
        items, _ = await service.list_work_orders(
            session,
            alarm_id=alarm_id,
            level=level,
            status=status,
            sector_id=sector_id,
            cursor=cursor,
            limit=limit,
        )
        return [o.work_order_id for o in items]

    assert await ids() == [other.work_order_id, blue.work_order_id, red.work_order_id]
    assert await ids(level="red") == [other.work_order_id, red.work_order_id]
    assert await ids(status="accepted") == [red.work_order_id]
    assert await ids(sector_id="oil-gas") == [other.work_order_id]
    assert await ids(alarm_id=blue.alarm_id) == [blue.work_order_id]
    first, cursor = await service.list_work_orders(
        session, alarm_id=None, level=None, status=None, sector_id=None, cursor=None, limit=2
    )
    assert [o.work_order_id for o in first] == [other.work_order_id, blue.work_order_id]
    assert cursor is not None
    assert await ids(cursor=cursor, limit=2) == [red.work_order_id]


async def _do(session: AsyncSession, order: WorkOrder, action: Action) -> None:
    if action == "accept":
        await service.accept_work_order(
            session, work_order_id=order.work_order_id, actor="a", note=None
        )
    elif action == "dispose":
        await service.dispose_work_order(
            session, work_order_id=order.work_order_id, actor="a", note="done"
        )
    else:
        await service.close_work_order(
            session, work_order_id=order.work_order_id, actor="a", feedback="done"
        )
