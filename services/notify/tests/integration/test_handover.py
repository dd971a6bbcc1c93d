"""Handovers (交接班) on the real database: the open alarms and work orders projected from their
topics in any order, what each kind of center attaches, who writes and who takes over."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.access import Scope
from riskwatch.common.errors import Forbidden, Invalid, NotFound
from riskwatch.common.events.alarms import (
    AlarmCleared,
    AlarmRaised,
    AlarmSnapshot,
    AlarmUpdated,
)
from riskwatch.common.events.base import Level
from riskwatch.common.events.workorders import (
    WorkOrderCreated,
    WorkOrderSnapshot,
    WorkOrderStateChanged,
    WorkOrderStatus,
)
from riskwatch.notify.duty.handover import (
    TOMBSTONE_KEEP,
    acknowledge_handover,
    attachment,
    list_handovers,
    open_items_of,
    project_alarm,
    project_work_order,
    write_handover,
)
from riskwatch.notify.duty.models import DutyCenter, DutyMember, OpenItem, Person

from .. import factories as f

NOW = f.NOW
T = timedelta(minutes=1)


# -- builders -------------------------------------------------------------------------------------


def alarm(
    level: Level = Level.YELLOW,
    *,
    alarm_id: str | None = None,
    town_id: str | None = "lujiazui",
    sector_id: str = "construction",
) -> AlarmSnapshot:
    return f.alarm(
        level,
        alarm_id=alarm_id,
        dev=f.device(f"dev-{uuid.uuid4().hex[:8]}", town_id=town_id, sector_id=sector_id),
    )


def raised(snap: AlarmSnapshot) -> AlarmRaised:
    return AlarmRaised(alarm=snap)


def updated(snap: AlarmSnapshot, to: Level, *, at: timedelta) -> AlarmUpdated:
    return AlarmUpdated(
        alarm=snap.model_copy(update={"level": to}), previous_level=snap.level, updated_at=NOW + at
    )


def cleared(snap: AlarmSnapshot, *, at: timedelta) -> AlarmCleared:
    return AlarmCleared(
        alarm=snap.model_copy(update={"status": "cleared"}),
        cleared_at=NOW + at,
        reason="recovered",
    )


def work_order(
    level: Level = Level.YELLOW,
    *,
    status: WorkOrderStatus = "created",
    town_id: str | None = "lujiazui",
    sector_id: str = "construction",
    work_order_id: str | None = None,
) -> WorkOrderSnapshot:
    return WorkOrderSnapshot(
        work_order_id=work_order_id or f"wo-{uuid.uuid4().hex[:8]}",
        alarm_id=str(uuid.uuid4()),
        level=level,
        status=status,
        sector_id=sector_id,
        scenario_id="gas",
        town_id=town_id,
        device_id="gas-001",
        created_at=NOW,
        due_at=NOW + timedelta(hours=2),
    )


def moved(
    snap: WorkOrderSnapshot, to: WorkOrderStatus, *, at: timedelta, level: Level | None = None
) -> WorkOrderStateChanged:
    action = {
        "dispatched": "dispatch",
        "accepted": "accept",
        "on_site": "arrive",
        "cleared": "clear",
        "feedback": "feedback",
        "reviewed": "review",
        "closed": "close",
        "returned": "return",
    }[to]
    return WorkOrderStateChanged(
        work_order=snap.model_copy(update={"status": to, "level": level or snap.level}),
        action=action,  # type: ignore[arg-type]
        from_status=snap.status,
        to_status=to,
        actor="handler-1",
        changed_at=NOW + at,
    )


async def open_item(session: AsyncSession, kind: str, item_id: str) -> OpenItem | None:
    """The item as a handover would see it: None once it is cleared or closed."""
    row = await session.get(OpenItem, (kind, item_id), populate_existing=True)
    if row is None or row.status in ("cleared", "closed"):
        return None
    return row


async def rows(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(OpenItem)) or 0


async def center(
    session: AsyncSession,
    center_id: str,
    kind: str,
    *,
    sector_id: str | None = None,
    town_id: str | None = None,
    members: Sequence[str] = (),
) -> DutyCenter:
    row = DutyCenter(
        duty_center_id=center_id, name=center_id, kind=kind, sector_id=sector_id, town_id=town_id
    )
    session.add(row)
    await session.flush()
    for person_id in members:
        if await session.get(Person, person_id) is None:
            session.add(Person(person_id=person_id, name=person_id, phone=f.phone_of(person_id)))
            await session.flush()
        session.add(DutyMember(duty_center_id=center_id, person_id=person_id, added_at=NOW))
    await session.flush()
    return row


# -- projection of alarms -------------------------------------------------------------------------


async def test_an_alarm_is_open_from_its_raise_to_its_clear(session: AsyncSession) -> None:
    snap = alarm(Level.YELLOW)
    await project_alarm(session, data=raised(snap), now=NOW)
    row = await open_item(session, "alarm", snap.alarm_id)
    assert row is not None
    assert (row.alarm_id, row.level, row.status) == (snap.alarm_id, "yellow", "active")
    assert (row.sector_id, row.town_id, row.device_id) == (
        "construction",
        "lujiazui",
        snap.device.device_id,
    )
    assert (row.opened_at, row.updated_at) == (snap.raised_at, snap.raised_at)

    await project_alarm(session, data=updated(snap, Level.ORANGE, at=T), now=NOW + T)
    row = await open_item(session, "alarm", snap.alarm_id)
    assert row is not None
    assert (row.level, row.updated_at, row.opened_at) == ("orange", NOW + T, snap.raised_at)

    await project_alarm(session, data=cleared(snap, at=2 * T), now=NOW + 2 * T)
    assert await open_item(session, "alarm", snap.alarm_id) is None


async def test_the_same_alarm_event_twice_changes_nothing(session: AsyncSession) -> None:
    snap = alarm(Level.YELLOW)
    for _ in range(2):
        await project_alarm(session, data=raised(snap), now=NOW)
        await project_alarm(session, data=updated(snap, Level.RED, at=T), now=NOW)
    assert await rows(session) == 1
    row = await open_item(session, "alarm", snap.alarm_id)
    assert row is not None
    assert (row.level, row.updated_at) == ("red", NOW + T)


async def test_a_late_older_snapshot_never_lowers_the_level(session: AsyncSession) -> None:
    snap = alarm(Level.YELLOW)
    await project_alarm(session, data=updated(snap, Level.RED, at=2 * T), now=NOW)
    await project_alarm(session, data=updated(snap, Level.ORANGE, at=T), now=NOW)
    await project_alarm(session, data=raised(snap), now=NOW)
    row = await open_item(session, "alarm", snap.alarm_id)
    assert row is not None
    assert (row.level, row.opened_at, row.updated_at) == ("red", snap.raised_at, NOW + 2 * T)


async def test_a_late_snapshot_never_reopens_a_cleared_alarm(session: AsyncSession) -> None:
    snap = alarm(Level.YELLOW)
    await project_alarm(session, data=raised(snap), now=NOW)
    await project_alarm(session, data=cleared(snap, at=2 * T), now=NOW)
    await project_alarm(session, data=updated(snap, Level.RED, at=T), now=NOW)
    await project_alarm(session, data=raised(snap), now=NOW)
    assert await open_item(session, "alarm", snap.alarm_id) is None

    first_the_clear = alarm(Level.ORANGE)
    await project_alarm(session, data=cleared(first_the_clear, at=T), now=NOW)
    await project_alarm(session, data=raised(first_the_clear), now=NOW)
    assert await open_item(session, "alarm", first_the_clear.alarm_id) is None


async def test_cleared_alarms_are_deleted_once_no_event_about_them_can_come_again(
    session: AsyncSession,
) -> None:
    old, recent = alarm(), alarm()
    await project_alarm(session, data=raised(old), now=NOW)
    await project_alarm(session, data=cleared(old, at=T), now=NOW + T)
    later = NOW + T + TOMBSTONE_KEEP + timedelta(seconds=1)
    await project_alarm(session, data=raised(recent), now=later)
    await project_alarm(session, data=cleared(recent, at=TOMBSTONE_KEEP), now=later)
    assert await session.get(OpenItem, ("alarm", old.alarm_id), populate_existing=True) is None
    kept = await session.get(OpenItem, ("alarm", recent.alarm_id), populate_existing=True)
    assert kept is not None
    assert kept.status == "cleared"


async def test_the_alarm_projection_ignores_other_events(session: AsyncSession) -> None:
    await project_alarm(session, data=WorkOrderCreated(work_order=work_order()), now=NOW)
    await project_work_order(session, data=raised(alarm()), now=NOW)
    assert await rows(session) == 0


# -- projection of work orders --------------------------------------------------------------------


async def test_a_work_order_is_open_until_it_closes_in_any_order(session: AsyncSession) -> None:
    snap = work_order(Level.YELLOW)
    await project_work_order(session, data=WorkOrderCreated(work_order=snap), now=NOW)
    await project_work_order(session, data=moved(snap, "accepted", at=T), now=NOW)
    await project_work_order(session, data=WorkOrderCreated(work_order=snap), now=NOW)  # again
    row = await open_item(session, "work_order", snap.work_order_id)
    assert row is not None
    assert (row.status, row.alarm_id, row.opened_at, row.updated_at) == (
        "accepted",
        snap.alarm_id,
        NOW,
        NOW + T,
    )
    accepted = snap.model_copy(update={"status": "accepted"})
    await project_work_order(session, data=moved(accepted, "closed", at=3 * T), now=NOW)
    await project_work_order(session, data=moved(snap, "accepted", at=T), now=NOW)  # late
    assert await open_item(session, "work_order", snap.work_order_id) is None
    assert await rows(session) == 1  # its tombstone, until nothing can come about it again


async def test_a_work_order_goes_back_and_reopens_by_its_latest_event_in_any_order(
    session: AsyncSession,
) -> None:
    """Unlike an alarm, a work order's status goes back (returned, reopened after closing):
    the latest event's status wins, whatever order the events come in."""
    snap = work_order(Level.YELLOW)
    accepted = snap.model_copy(update={"status": "accepted"})
    returned = moved(accepted, "returned", at=2 * T)
    await project_work_order(session, data=returned, now=NOW)
    await project_work_order(session, data=moved(snap, "accepted", at=T), now=NOW)  # late
    row = await open_item(session, "work_order", snap.work_order_id)
    assert row is not None
    assert row.status == "returned"  # open: it waits for a new dispatch

    closed = moved(accepted, "closed", at=3 * T)
    reopened = WorkOrderStateChanged(
        work_order=snap.model_copy(update={"status": "dispatched", "unit_id": "street-gaoqiao"}),
        action="reopen",
        from_status="closed",
        to_status="dispatched",
        actor="leader",
        changed_at=NOW + 4 * T,
    )
    await project_work_order(session, data=reopened, now=NOW)
    await project_work_order(session, data=closed, now=NOW)  # the older close, late
    row = await open_item(session, "work_order", snap.work_order_id)
    assert row is not None
    assert (row.status, row.unit_id) == ("dispatched", "street-gaoqiao")


async def test_a_work_order_made_by_hand_has_no_device_and_its_unit_holds_it(
    session: AsyncSession,
) -> None:
    snap = work_order(Level.BLUE, town_id="gaoqiao", sector_id="emergency").model_copy(
        update={"device_id": None, "origin": "patrol", "unit_id": "sector-gas"}
    )
    await project_work_order(session, data=WorkOrderCreated(work_order=snap), now=NOW)
    unit = await center(session, "sector-gas", "sector", sector_id="gas")
    alarms, orders = await open_items_of(session, center=unit.ref())
    assert alarms == []
    assert [o.item_id for o in orders] == [snap.work_order_id]
    assert attachment(orders[0])["unit_id"] == "sector-gas"
    assert attachment(orders[0])["device_id"] is None


async def test_a_work_orders_level_follows_its_newest_snapshot_up_only(
    session: AsyncSession,
) -> None:
    snap = work_order(Level.YELLOW)
    await project_work_order(
        session, data=moved(snap, "accepted", at=2 * T, level=Level.RED), now=NOW
    )
    await project_work_order(session, data=WorkOrderCreated(work_order=snap), now=NOW)
    row = await open_item(session, "work_order", snap.work_order_id)
    assert row is not None
    assert (row.level, row.status, row.opened_at) == ("red", "accepted", NOW)


# -- what a center attaches -----------------------------------------------------------------------


async def seed_items(session: AsyncSession) -> dict[str, str]:
    """Alarms and work orders at two towns and two sectors, of every interest; their ids by
    name."""
    placed = {
        "yellow-lujiazui-construction": (Level.YELLOW, "lujiazui", "construction"),
        "red-gaoqiao-construction": (Level.RED, "gaoqiao", "construction"),
        "orange-lujiazui-emergency": (Level.ORANGE, "lujiazui", "emergency"),
        "blue-nowhere-emergency": (Level.BLUE, None, "emergency"),
    }
    ids: dict[str, str] = {}
    for name, (level, town_id, sector_id) in placed.items():
        snap = alarm(level, town_id=town_id, sector_id=sector_id)
        await project_alarm(session, data=raised(snap), now=NOW)
        ids[name] = snap.alarm_id
    gone = alarm(Level.RED, town_id="lujiazui", sector_id="construction")
    await project_alarm(session, data=raised(gone), now=NOW)
    await project_alarm(session, data=cleared(gone, at=T), now=NOW)
    ids["cleared"] = gone.alarm_id

    wo = work_order(Level.ORANGE, town_id="lujiazui", sector_id="construction")
    await project_work_order(session, data=WorkOrderCreated(work_order=wo), now=NOW)
    ids["wo-orange-lujiazui-construction"] = wo.work_order_id
    wo_blue = work_order(Level.BLUE, town_id="gaoqiao", sector_id="emergency")
    await project_work_order(session, data=WorkOrderCreated(work_order=wo_blue), now=NOW)
    ids["wo-blue-gaoqiao-emergency"] = wo_blue.work_order_id
    closed = work_order(Level.RED, status="accepted", town_id="lujiazui")
    await project_work_order(session, data=moved(closed, "closed", at=T), now=NOW)
    ids["wo-closed"] = closed.work_order_id
    return ids


@pytest.mark.parametrize(
    ("kind", "sector_id", "town_id", "alarms", "work_orders"),
    [
        (
            "street",
            None,
            "lujiazui",
            ["orange-lujiazui-emergency", "yellow-lujiazui-construction"],
            ["wo-orange-lujiazui-construction"],
        ),
        (
            "sector",
            "emergency",
            None,
            ["orange-lujiazui-emergency", "blue-nowhere-emergency"],
            ["wo-blue-gaoqiao-emergency"],
        ),
        (
            "district",
            None,
            None,
            ["red-gaoqiao-construction", "orange-lujiazui-emergency"],
            ["wo-orange-lujiazui-construction"],
        ),
    ],
)
async def test_a_handover_attaches_the_open_items_its_center_holds(
    session: AsyncSession,
    kind: str,
    sector_id: str | None,
    town_id: str | None,
    alarms: list[str],
    work_orders: list[str],
) -> None:
    ids = await seed_items(session)
    c = await center(
        session, "c", kind, sector_id=sector_id, town_id=town_id, members=["out", "in"]
    )
    handover = await write_handover(
        session, center=c, from_person_id="out", to_person_id="in", note="水管爆裂已处置", now=NOW
    )
    assert [a["alarm_id"] for a in handover.open_alarms] == [ids[n] for n in alarms]
    assert [w["work_order_id"] for w in handover.open_work_orders] == [ids[n] for n in work_orders]
    first = handover.open_alarms[0]
    assert set(first) == {
        "alarm_id",
        "level",
        "status",
        "device_id",
        "sector_id",
        "town_id",
        "opened_at",
    }
    assert first["status"] == "active"
    assert first["opened_at"] == (NOW - timedelta(seconds=3)).isoformat()  # the alarm's raised_at
    assert (handover.from_person_id, handover.to_person_id, handover.written_at) == (
        "out",
        "in",
        NOW,
    )
    assert handover.acknowledged_at is None


async def test_a_handover_keeps_what_was_open_when_it_was_written(session: AsyncSession) -> None:
    c = await center(session, "street", "street", town_id="lujiazui", members=["out"])
    snap = alarm(Level.YELLOW)
    await project_alarm(session, data=raised(snap), now=NOW)
    handover = await write_handover(
        session, center=c, from_person_id="out", to_person_id=None, note="n", now=NOW
    )
    await project_alarm(session, data=cleared(snap, at=T), now=NOW + T)
    await session.refresh(handover)
    assert [a["alarm_id"] for a in handover.open_alarms] == [snap.alarm_id]
    alarms, _ = await open_items_of(session, center=c.ref())
    assert alarms == []


# -- who writes, who takes over -------------------------------------------------------------------


async def test_only_a_member_writes_a_handover(session: AsyncSession) -> None:
    c = await center(session, "street", "street", town_id="lujiazui", members=["out", "in"])
    await center(session, "other", "street", town_id="gaoqiao", members=["stranger"])
    with pytest.raises(Forbidden):
        await write_handover(
            session, center=c, from_person_id="stranger", to_person_id=None, note="n", now=NOW
        )
    with pytest.raises(Invalid):  # the incoming person must be a member too
        await write_handover(
            session, center=c, from_person_id="out", to_person_id="stranger", note="n", now=NOW
        )
    with pytest.raises(Invalid):  # and someone else
        await write_handover(
            session, center=c, from_person_id="out", to_person_id="out", note="n", now=NOW
        )


async def test_only_the_named_incoming_person_acknowledges_and_twice_is_once(
    session: AsyncSession,
) -> None:
    c = await center(session, "street", "street", town_id="lujiazui", members=["out", "in", "x"])
    h = await write_handover(
        session, center=c, from_person_id="out", to_person_id="in", note="n", now=NOW
    )
    for someone in ("out", "x", "stranger"):
        with pytest.raises(Forbidden):
            await acknowledge_handover(session, handover_id=h.handover_id, by=someone, now=NOW)
    first = await acknowledge_handover(session, handover_id=h.handover_id, by="in", now=NOW + T)
    assert (first.acknowledged_by, first.acknowledged_at) == ("in", NOW + T)
    again = await acknowledge_handover(session, handover_id=h.handover_id, by="in", now=NOW + 5 * T)
    assert (again.acknowledged_by, again.acknowledged_at) == ("in", NOW + T)


async def test_with_nobody_named_any_other_member_acknowledges(session: AsyncSession) -> None:
    c = await center(session, "street", "street", town_id="lujiazui", members=["out", "a", "b"])
    await center(session, "other", "street", town_id="gaoqiao", members=["stranger"])
    h = await write_handover(
        session, center=c, from_person_id="out", to_person_id=None, note="n", now=NOW
    )
    for someone in ("out", "stranger"):
        with pytest.raises(Forbidden):
            await acknowledge_handover(session, handover_id=h.handover_id, by=someone, now=NOW)
    first = await acknowledge_handover(session, handover_id=h.handover_id, by="a", now=NOW + T)
    second = await acknowledge_handover(session, handover_id=h.handover_id, by="b", now=NOW + 2 * T)
    assert (first.acknowledged_by, first.acknowledged_at) == ("a", NOW + T)
    assert (second.acknowledged_by, second.acknowledged_at) == ("a", NOW + T)


async def test_a_handover_outside_the_callers_scope_does_not_exist(session: AsyncSession) -> None:
    c = await center(session, "street", "street", town_id="lujiazui", members=["out", "in"])
    h = await write_handover(
        session, center=c, from_person_id="out", to_person_id="in", note="n", now=NOW
    )
    with pytest.raises(NotFound):
        await acknowledge_handover(
            session, handover_id=h.handover_id, by="in", now=NOW, scope=Scope("town", "gaoqiao")
        )
    with pytest.raises(NotFound):
        await acknowledge_handover(session, handover_id="nope", by="in", now=NOW)
    ok = await acknowledge_handover(
        session, handover_id=h.handover_id, by="in", now=NOW, scope=Scope("town", "lujiazui")
    )
    assert ok.acknowledged_by == "in"


async def test_handovers_are_listed_newest_first_page_by_page(session: AsyncSession) -> None:
    c = await center(session, "street", "street", town_id="lujiazui", members=["out"])
    other = await center(session, "other", "street", town_id="gaoqiao", members=["out"])
    written = [
        await write_handover(
            session, center=c, from_person_id="out", to_person_id=None, note=str(i), now=NOW + i * T
        )
        for i in range(5)
    ]
    await write_handover(
        session, center=other, from_person_id="out", to_person_id=None, note="x", now=NOW
    )
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page, cursor = await list_handovers(
            session, duty_center_id="street", cursor=cursor, limit=2
        )
        seen += [h.note for h in page]
        if cursor is None:
            break
    assert seen == [h.note for h in reversed(written)] == ["4", "3", "2", "1", "0"]
