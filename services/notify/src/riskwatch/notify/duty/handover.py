"""交接班 (handover): the open alarms and work orders notify sees on their topics, which of them a
center holds, and handovers that attach them. Callers own the transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, and_, case, delete, false, func, or_, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.access import DISTRICT, Scope
from riskwatch.common.errors import Forbidden, Invalid, NotFound
from riskwatch.common.events.alarms import AlarmCleared, AlarmRaised, AlarmUpdated
from riskwatch.common.events.base import EventPayload, Level
from riskwatch.common.events.workorders import (
    WORK_ORDER_STATUSES,
    WorkOrderCreated,
    WorkOrderDeadlineApproaching,
    WorkOrderOverdue,
    WorkOrderStateChanged,
)
from riskwatch.common.inbox import DEFAULT_KEEP
from riskwatch.common.pagination import keyset, page_of
from riskwatch.notify.duty.domain import DISTRICT_FROM, CenterKind, DutyCenterRef
from riskwatch.notify.duty.models import DutyCenter, Handover, OpenItem
from riskwatch.notify.duty.service import is_member

ALARM: Final = "alarm"
WORK_ORDER: Final = "work_order"

# Alarm statuses only move forward (alerting never reopens an alarm: a new breach after the clear
# is a new alarm_id) and levels only rise (alarms escalate, never de-escalate; a work order's
# level follows its alarm's). So merging alarms by the furthest status and both by the highest
# level gives the same row whatever order the events come in, and a replay changes nothing.
ALARM_STATUS_RANK: Final[Mapping[str, int]] = {"active": 0, "cleared": 1}
# A work order's status does go back (returned, corrected, reopened after closing): the status
# of the latest event wins; at the same instant, the later one in the loop (closed last).
WORK_ORDER_STATUS_RANK: Final[Mapping[str, int]] = {
    status: rank
    for rank, status in enumerate([s for s in WORK_ORDER_STATUSES if s != "closed"] + ["closed"])
}
LEVEL_RANK: Final[Mapping[str, int]] = {level.value: level.rank for level in Level}
# The last status of each kind: the item is no longer open (a work order is open in every
# other status, returned included: it waits for a new dispatch).
TERMINAL: Final[Mapping[str, str]] = {ALARM: "cleared", WORK_ORDER: "closed"}

# A cleared alarm or closed work order stays as a tombstone this long, so that an older snapshot
# arriving late finds it and cannot reopen the item; then it is deleted. An event can only come
# again while the inbox remembers it (longer than Kafka keeps it).
TOMBSTONE_KEEP: Final[timedelta] = DEFAULT_KEEP
PRUNE_BATCH: Final = 200


# -- pure rules -----------------------------------------------------------------------------------


def covers(
    center: DutyCenterRef,
    *,
    level: Level,
    sector_id: str,
    town_id: str | None,
    unit_id: str | None = None,
) -> bool:
    """Whether an open item at this place and level is the center's to hand over: a work order
    whose responsible unit it is; a street center's items are those of its town, a sector
    center's those of its sector, the district center's every item of level orange or above."""
    if unit_id is not None and unit_id == center.duty_center_id:
        return True
    match center.kind:
        case CenterKind.STREET:
            return center.town_id is not None and town_id == center.town_id
        case CenterKind.SECTOR:
            return center.sector_id is not None and sector_id == center.sector_id
        case CenterKind.DISTRICT:
            return level.rank >= DISTRICT_FROM.rank


def may_acknowledge(
    *, from_person_id: str, to_person_id: str | None, by: str, by_is_member: bool
) -> bool:
    """The incoming person takes over: the one named, or, when none was, any member of the
    center but the writer."""
    if to_person_id is not None:
        return by == to_person_id
    return by_is_member and by != from_person_id


def attachment(item: OpenItem) -> dict[str, Any]:
    """How an open item is kept in a handover: what it was at that moment, as JSON."""
    entry: dict[str, Any] = {"alarm_id": item.alarm_id}
    if item.item_kind == WORK_ORDER:
        entry["work_order_id"] = item.item_id
        entry["unit_id"] = item.unit_id
    entry |= {
        "level": item.level,
        "status": item.status,
        "device_id": item.device_id,
        "sector_id": item.sector_id,
        "town_id": item.town_id,
        "opened_at": item.opened_at.isoformat(),
    }
    return entry


def in_handover_order(items: Iterable[OpenItem]) -> list[OpenItem]:
    """The most severe first, then the longest open."""
    return sorted(items, key=lambda i: (-LEVEL_RANK.get(i.level, 0), i.opened_at, i.item_id))


# -- projections of rw.alarms and rw.workorders ---------------------------------------------------


async def project_alarm(session: AsyncSession, *, data: EventPayload, now: datetime) -> None:
    """Keep the alarm's open item: AlarmRaised and AlarmUpdated put it, AlarmCleared closes it.
    Any order, any number of times; other payloads are ignored."""
    if isinstance(data, AlarmRaised):
        at = data.alarm.raised_at
    elif isinstance(data, AlarmUpdated):
        at = data.updated_at
    elif isinstance(data, AlarmCleared):
        at = data.cleared_at
    else:
        return
    snap = data.alarm
    await _merge(
        session,
        kind=ALARM,
        item_id=snap.alarm_id,
        values={
            "alarm_id": snap.alarm_id,
            "level": snap.level.value,
            # The cleared event's snapshot may still say "active"; the event type decides.
            "status": "cleared" if isinstance(data, AlarmCleared) else snap.status,
            "sector_id": snap.device.sector_id,
            "town_id": snap.device.town_id,
            "device_id": snap.device.device_id,
            "opened_at": snap.raised_at,
            "updated_at": at,
        },
        status_rank=ALARM_STATUS_RANK,
    )
    if isinstance(data, AlarmCleared):
        await _prune(session, kind=ALARM, now=now)


async def project_work_order(session: AsyncSession, *, data: EventPayload, now: datetime) -> None:
    """Keep the work order's open item: created, moved, reminded or overdue puts it, closed
    closes it, reopened opens it again. Any order, any number of times; other payloads are
    ignored."""
    if isinstance(data, WorkOrderCreated):
        at = data.work_order.created_at
    elif isinstance(data, WorkOrderStateChanged):
        at = data.changed_at
    # No change of status, but a fresher snapshot.
    elif isinstance(data, WorkOrderOverdue):
        at = data.overdue_at
    elif isinstance(data, WorkOrderDeadlineApproaching):
        at = data.reminded_at
    else:
        return
    snap = data.work_order
    status = data.to_status if isinstance(data, WorkOrderStateChanged) else snap.status
    await _merge(
        session,
        kind=WORK_ORDER,
        item_id=snap.work_order_id,
        values={
            "alarm_id": snap.alarm_id,
            "level": snap.level.value,
            "status": status,
            "sector_id": snap.sector_id,
            "town_id": snap.town_id,
            "device_id": snap.device_id,
            "unit_id": snap.unit_id,
            "opened_at": snap.created_at,
            "updated_at": at,
        },
        status_rank=WORK_ORDER_STATUS_RANK,
        latest_wins=True,
    )
    if status == TERMINAL[WORK_ORDER]:
        await _prune(session, kind=WORK_ORDER, now=now)


def _rank(column: Any, ranks: Mapping[str, int]) -> ColumnElement[int]:
    return case(dict(ranks), value=column, else_=-1)


def _further(existing: Any, incoming: Any, ranks: Mapping[str, int]) -> ColumnElement[Any]:
    return case((_rank(incoming, ranks) > _rank(existing, ranks), incoming), else_=existing)


def _latest(
    existing: Any, incoming: Any, ranks: Mapping[str, int], *, existing_at: Any, incoming_at: Any
) -> ColumnElement[Any]:
    """The incoming status if its event is later, or at the same instant further on."""
    return case(
        (incoming_at > existing_at, incoming),
        (
            (incoming_at == existing_at) & (_rank(incoming, ranks) > _rank(existing, ranks)),
            incoming,
        ),
        else_=existing,
    )


async def _merge(
    session: AsyncSession,
    *,
    kind: str,
    item_id: str,
    values: dict[str, Any],
    status_rank: Mapping[str, int],
    latest_wins: bool = False,
) -> None:
    stmt = insert(OpenItem).values(item_kind=kind, item_id=item_id, **values)
    new = stmt.excluded
    moved: dict[str, Any] = {}
    if latest_wins:
        # Also the unit (a transfer moves it): the latest event's.
        status = _latest(
            OpenItem.status,
            new.status,
            status_rank,
            existing_at=OpenItem.updated_at,
            incoming_at=new.updated_at,
        )
        moved["unit_id"] = case(
            (new.updated_at >= OpenItem.updated_at, new.unit_id), else_=OpenItem.unit_id
        )
    else:
        # The terminal status ranks highest: a late snapshot never reopens the item.
        status = _further(OpenItem.status, new.status, status_rank)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[OpenItem.item_kind, OpenItem.item_id],
            set_={
                "level": _further(OpenItem.level, new.level, LEVEL_RANK),
                "status": status,
                **moved,
                "opened_at": func.least(OpenItem.opened_at, new.opened_at),
                "updated_at": func.greatest(OpenItem.updated_at, new.updated_at),
            },
        )
    )


async def _prune(session: AsyncSession, *, kind: str, now: datetime) -> None:
    """Delete tombstones old enough that no event about them can come again. Rows another
    transaction holds are skipped (a later prune gets them), so consumers never wait here."""
    doomed = (
        select(OpenItem.item_kind, OpenItem.item_id)
        .where(
            OpenItem.item_kind == kind,
            OpenItem.status == TERMINAL[kind],
            OpenItem.updated_at < now - TOMBSTONE_KEEP,
        )
        .limit(PRUNE_BATCH)
        .with_for_update(skip_locked=True)
    )
    await session.execute(
        delete(OpenItem).where(tuple_(OpenItem.item_kind, OpenItem.item_id).in_(doomed))
    )


# -- open items of a center -----------------------------------------------------------------------


def _covered_clause(center: DutyCenterRef) -> ColumnElement[bool]:
    """`covers` as SQL, to fetch only the center's items."""
    by_place: ColumnElement[bool]
    match center.kind:
        case CenterKind.STREET:
            by_place = false() if center.town_id is None else OpenItem.town_id == center.town_id
        case CenterKind.SECTOR:
            by_place = (
                false() if center.sector_id is None else OpenItem.sector_id == center.sector_id
            )
        case CenterKind.DISTRICT:
            by_place = OpenItem.level.in_(
                [lv.value for lv in Level if lv.rank >= DISTRICT_FROM.rank]
            )
    return or_(OpenItem.unit_id == center.duty_center_id, by_place)


async def open_items_of(
    session: AsyncSession, *, center: DutyCenterRef
) -> tuple[list[OpenItem], list[OpenItem]]:
    """The center's open alarms and open work orders, the most severe first."""
    rows = await session.scalars(
        select(OpenItem).where(
            and_(
                *(
                    ~((OpenItem.item_kind == kind) & (OpenItem.status == status))
                    for kind, status in TERMINAL.items()
                )
            ),
            _covered_clause(center),
        )
    )
    mine = in_handover_order(
        r
        for r in rows
        if covers(
            center,
            level=Level(r.level),
            sector_id=r.sector_id,
            town_id=r.town_id,
            unit_id=r.unit_id,
        )
    )
    return (
        [i for i in mine if i.item_kind == ALARM],
        [i for i in mine if i.item_kind == WORK_ORDER],
    )


# -- handovers ------------------------------------------------------------------------------------


async def write_handover(
    session: AsyncSession,
    *,
    center: DutyCenter,
    from_person_id: str,
    to_person_id: str | None,
    note: str,
    now: datetime,
) -> Handover:
    """The outgoing member's note, with the center's open alarms and work orders as they are
    now. The incoming person, when named, must be another member of the center."""
    center_id = center.duty_center_id
    if not await is_member(session, duty_center_id=center_id, person_id=from_person_id):
        raise Forbidden(f"Only a member of {center_id!r} writes its handover.")
    if to_person_id is not None:
        if to_person_id == from_person_id:
            raise Invalid("A handover goes to someone else: to_person_id is the writer.")
        if not await is_member(session, duty_center_id=center_id, person_id=to_person_id):
            raise Invalid(f"{to_person_id!r} is not a member of {center_id!r}.")
    alarms, work_orders = await open_items_of(session, center=center.ref())
    handover = Handover(
        handover_id=str(uuid.uuid4()),
        duty_center_id=center_id,
        from_person_id=from_person_id,
        to_person_id=to_person_id,
        note=note,
        open_alarms=[attachment(i) for i in alarms],
        open_work_orders=[attachment(i) for i in work_orders],
        written_at=now,
    )
    session.add(handover)
    await session.flush()
    return handover


async def get_handover_or_raise(
    session: AsyncSession, *, handover_id: str, scope: Scope = DISTRICT, for_update: bool = False
) -> Handover:
    """A handover, if its center is within `scope`; else NotFound, as if it did not exist."""
    handover = await session.get(Handover, handover_id, with_for_update=for_update)
    center = await session.get(DutyCenter, handover.duty_center_id) if handover else None
    if handover is None or center is None or not scope.holds(center):
        raise NotFound(f"No handover {handover_id!r}.")
    return handover


async def acknowledge_handover(
    session: AsyncSession,
    *,
    handover_id: str,
    by: str,
    now: datetime,
    scope: Scope = DISTRICT,
) -> Handover:
    """The incoming person takes over (see `may_acknowledge`). Acknowledging again answers the
    handover as it is, with the first acknowledgement."""
    handover = await get_handover_or_raise(
        session, handover_id=handover_id, scope=scope, for_update=True
    )
    allowed = may_acknowledge(
        from_person_id=handover.from_person_id,
        to_person_id=handover.to_person_id,
        by=by,
        by_is_member=await is_member(session, duty_center_id=handover.duty_center_id, person_id=by),
    )
    if not allowed:
        whom = (
            repr(handover.to_person_id)
            if handover.to_person_id is not None
            else f"a member of {handover.duty_center_id!r} other than its writer"
        )
        raise Forbidden(f"Only {whom} may acknowledge this handover.")
    if handover.acknowledged_at is None:
        handover.acknowledged_at = now
        handover.acknowledged_by = by
        await session.flush()
    return handover


async def list_handovers(
    session: AsyncSession, *, duty_center_id: str, cursor: str | None, limit: int
) -> tuple[list[Handover], str | None]:
    """A center's handovers, newest first."""
    stmt = keyset(
        select(Handover).where(Handover.duty_center_id == duty_center_id),
        at=Handover.written_at,
        id_=Handover.handover_id,
        cursor=cursor,
        limit=limit,
    )
    rows = (await session.scalars(stmt)).all()
    return page_of(rows, limit=limit, at="written_at", id_="handover_id")
