"""The weekly overdue bulletin (超时处置通报, seed 000 §五: overdue items were reported at the
weekly district meeting until the overdue share fell from 12.11 % to 0.30 %).

Pure part: which week, and per unit the orders that were overdue and still open at the week's
end or closed late within it. Service part: build it from the orders, store it once per week,
publish it (notify sends it to the department heads).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.events import new_event
from riskwatch.common.events.topics import WORKORDERS
from riskwatch.common.events.workorders import (
    BULLETIN_IDS_LISTED,
    BulletinUnit,
    WorkOrderBulletinPublished,
)
from riskwatch.workorder.models import outbox
from riskwatch.workorder.workorders.models import Bulletin, WorkOrder

BULLETIN_KEY = "bulletin"
NO_UNIT = "none"  # orders not dispatched to any unit yet


def last_week(now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The last complete week, Monday 00:00 to Monday 00:00 local, before `now`."""
    local = now.astimezone(tz)
    this_monday = datetime.combine(
        local.date() - timedelta(days=local.weekday()), time(0), tzinfo=tz
    )
    return this_monday - timedelta(days=7), this_monday


def week_starting(day: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The week (Monday 00:00 local, 7 days) that contains `day`."""
    local = day.astimezone(tz)
    monday = datetime.combine(local.date() - timedelta(days=local.weekday()), time(0), tzinfo=tz)
    return monday, monday + timedelta(days=7)


@dataclass(frozen=True, slots=True)
class OrderFact:
    work_order_id: str
    unit_id: str | None
    created_at: datetime
    stage_due_at: datetime | None  # of the stage it is in now; None when closed
    due_at: datetime  # the close limit
    closed_at: datetime | None


def bulletin_units(
    orders: Iterable[OrderFact], week_start: datetime, week_end: datetime
) -> list[BulletinUnit]:
    """Per unit, by unit id: orders created before the week's end, not closed by then and past
    a limit by then (overdue open); orders closed within the week after their close limit
    (closed late). Units with neither are left out."""
    overdue: dict[str, list[str]] = defaultdict(list)
    late: dict[str, list[str]] = defaultdict(list)
    for o in orders:
        unit = o.unit_id or NO_UNIT
        closed_by_end = o.closed_at is not None and o.closed_at < week_end
        if o.created_at < week_end and not closed_by_end:
            limits = [o.due_at] + ([o.stage_due_at] if o.stage_due_at is not None else [])
            if min(limits) < week_end:
                overdue[unit].append(o.work_order_id)
        elif (
            o.closed_at is not None
            and week_start <= o.closed_at < week_end
            and o.closed_at > o.due_at
        ):
            late[unit].append(o.work_order_id)
    return [
        BulletinUnit(
            unit_id=unit,
            overdue_open=len(overdue[unit]),
            closed_late=len(late[unit]),
            work_order_ids=sorted(overdue[unit] + late[unit])[:BULLETIN_IDS_LISTED],
        )
        for unit in sorted(set(overdue) | set(late))
    ]


async def publish_bulletin(
    session: AsyncSession,
    *,
    week_start: datetime,
    week_end: datetime,
    now: datetime,
    actor: str,
) -> tuple[Bulletin, bool]:
    """Build, store and publish the bulletin of a week; the stored one (and False) when that
    week's was published already: each week has one bulletin, published once."""
    existing = await session.scalar(select(Bulletin).where(Bulletin.week_start == week_start))
    if existing is not None:
        return existing, False
    stmt = select(
        WorkOrder.work_order_id,
        WorkOrder.unit_id,
        WorkOrder.created_at,
        WorkOrder.stage_due_at,
        WorkOrder.due_at,
        WorkOrder.closed_at,
    ).where(
        WorkOrder.created_at < week_end,
        or_(WorkOrder.closed_at.is_(None), WorkOrder.closed_at >= week_start),
    )
    facts = [OrderFact(*row) for row in await session.execute(stmt)]
    units = bulletin_units(facts, week_start, week_end)
    bulletin_id = str(uuid.uuid4())
    inserted = await session.scalar(
        insert(Bulletin)
        .values(
            bulletin_id=bulletin_id,
            week_start=week_start,
            week_end=week_end,
            units=[u.model_dump(mode="json") for u in units],
            published_at=now,
            published_by=actor,
        )
        .on_conflict_do_nothing(index_elements=[Bulletin.week_start])
        .returning(Bulletin.bulletin_id)
    )
    row = await session.scalar(select(Bulletin).where(Bulletin.week_start == week_start))
    if row is None:  # not possible: inserted or found in this transaction
        raise RuntimeError(f"the bulletin of {week_start} vanished")
    if inserted is None:  # another process published it meanwhile
        return row, False
    event = new_event(
        WorkOrderBulletinPublished(
            bulletin_id=bulletin_id,
            week_start=week_start,
            week_end=week_end,
            units=units,
            published_at=now,
        ),
        source="/riskwatch/workorder",
        subject=BULLETIN_KEY,
    )
    await outbox.add(session, WORKORDERS, event, key=BULLETIN_KEY)
    return row, True


async def list_bulletins(session: AsyncSession, *, limit: int) -> list[Bulletin]:
    stmt = select(Bulletin).order_by(Bulletin.week_start.desc()).limit(limit)
    return list((await session.scalars(stmt)).all())
