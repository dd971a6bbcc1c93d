"""Use cases of reports: load one month's facts from the projections, run the pure math.

Read-only: callers pass a session (the API's is one REPEATABLE READ snapshot).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import cast
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from riskwatch.common.access import DISTRICT, Scope
from riskwatch.common.catalog import Catalog
from riskwatch.common.errors import Invalid, NotFound
from riskwatch.common.events.device_status import DeviceState
from riskwatch.common.events.duty import sector_center_id
from riskwatch.common.events.workorders import STAGES
from riskwatch.reporting.projections.models import (
    AlarmView,
    DeviceStatusChangeView,
    DeviceView,
    DutyShiftView,
    NotificationView,
    ReadingQualityDeviceView,
    ReadingQualityView,
    RosterView,
    WorkOrderView,
)
from riskwatch.reporting.reports.devices import (
    DEVICES_LISTED,
    DeviceFacts,
    DeviceQualityFact,
    Place,
    QualityHourFact,
    StatusChangeFact,
    flag_counts,
)
from riskwatch.reporting.reports.domain import (
    AlarmFact,
    AlarmNotificationFact,
    Month,
    MonthError,
    MonthlyReport,
    NotificationFact,
    RosterFact,
    ShiftFact,
    WorkOrderFact,
    ensure_begun,
    monthly_report,
)


async def build_monthly_report(
    session: AsyncSession,
    *,
    catalog: Catalog,
    tz: ZoneInfo,
    month: str,
    sector_id: str | None,
    now: datetime,
) -> MonthlyReport:
    """The monthly report of the district, or of one sector. A sector's duty section lists its
    own duty center alone (`sector-<sector_id>`): duty events name centers, not sectors."""
    try:
        the_month = Month.parse(month)
        ensure_begun(the_month, tz, now)
    except MonthError as exc:
        raise Invalid(str(exc), field="month") from exc
    if sector_id is not None and catalog.sector(sector_id) is None:
        raise Invalid(f"Unknown sector {sector_id!r}.", field="sector_id")
    start, end = the_month.window(tz)
    return monthly_report(
        the_month,
        tz,
        now,
        sector_ids=[sector_id] if sector_id is not None else catalog.sector_ids(),
        alarms=await alarm_facts(session, start=start, end=end, sector_id=sector_id),
        work_orders=await work_order_facts(session, start=start, end=end, sector_id=sector_id),
        notifications=await notification_facts(session, start=start, end=end, sector_id=sector_id),
        shifts=await shift_facts(session, start=start, end=end, sector_id=sector_id),
        rosters=await roster_facts(session, start=start, end=end, sector_id=sector_id),
        devices=await device_facts(session, start=start, end=end, sector_id=sector_id),
    )


async def alarm_facts(
    session: AsyncSession, *, start: datetime, end: datetime, sector_id: str | None
) -> list[AlarmFact]:
    """Alarms raised in [start, end), each with every notification of it (from any escalation
    step, to any center, person and channel, whenever sent): the report's math decides which
    count by its cut-off."""
    raised = (AlarmView.raised_at >= start) & (AlarmView.raised_at < end)
    if sector_id is not None:
        raised &= AlarmView.sector_id == sector_id
    nv = NotificationView
    notifications: dict[str, list[AlarmNotificationFact]] = defaultdict(list)
    rows = await session.execute(
        select(
            nv.alarm_id,
            nv.duty_center_id,
            nv.channel,
            nv.sent_at,
            nv.delivered_at,
            nv.acknowledged_at,
            nv.acknowledged_via,
        )
        .join(AlarmView, AlarmView.alarm_id == nv.alarm_id)
        .where(raised)
        .order_by(nv.alarm_id, nv.sent_at, nv.notification_id)
    )
    for alarm_id, center, channel, sent_at, delivered_at, acked_at, via in rows:
        notifications[alarm_id].append(
            AlarmNotificationFact(center, channel, sent_at, delivered_at, acked_at, via)
        )
    alarms = await session.execute(
        select(
            AlarmView.alarm_id,
            AlarmView.sector_id,
            AlarmView.level,
            AlarmView.raised_at,
            AlarmView.cleared_at,
        ).where(raised)
    )
    return [
        AlarmFact(
            alarm_id,
            sector,
            level,
            raised_at,
            cleared_at,
            notified=alarm_id in notifications,
            notifications=tuple(notifications.get(alarm_id, ())),
        )
        for alarm_id, sector, level, raised_at, cleared_at in alarms
    ]


async def work_order_facts(
    session: AsyncSession, *, start: datetime, end: datetime, sector_id: str | None
) -> list[WorkOrderFact]:
    """Work orders created in [start, end), with their stage times, deadlines and keys."""
    wv = WorkOrderView
    stmt = select(wv).where(wv.created_at >= start, wv.created_at < end)
    if sector_id is not None:
        stmt = stmt.where(wv.sector_id == sector_id)
    return [work_order_fact(w) for w in await session.scalars(stmt)]


def work_order_fact(w: WorkOrderView) -> WorkOrderFact:
    deadlines = {stage: getattr(w, f"{stage}_due_at") for stage in STAGES}
    return WorkOrderFact(
        created_at=w.created_at,
        due_at=w.due_at,
        closed_at=w.closed_at,
        accepted_at=w.accepted_at,
        on_site_at=w.on_site_at,
        cleared_at=w.cleared_at,
        feedback_at=w.feedback_at,
        deadlines={stage: at for stage, at in deadlines.items() if at is not None},
        false_alarm=w.false_alarm,
        rule_id=w.rule_id,
        unit_id=w.unit_id,
        sector_id=w.sector_id,
        town_id=w.town_id,
    )


async def notification_facts(
    session: AsyncSession, *, start: datetime, end: datetime, sector_id: str | None
) -> list[NotificationFact]:
    """Notifications sent in [start, end). A notification names no sector: with a sector
    filter it counts through its alarm, so one whose alarm has not arrived yet is left out."""
    nv = NotificationView
    stmt = select(nv.channel, nv.sent_at, nv.delivered_at, nv.gave_up_at, nv.acknowledged_at).where(
        nv.sent_at >= start, nv.sent_at < end
    )
    if sector_id is not None:
        stmt = stmt.join(AlarmView, AlarmView.alarm_id == nv.alarm_id).where(
            AlarmView.sector_id == sector_id
        )
    return [NotificationFact(*row) for row in await session.execute(stmt)]


async def shift_facts(
    session: AsyncSession, *, start: datetime, end: datetime, sector_id: str | None
) -> list[ShiftFact]:
    """Shifts overlapping [start, end) as last published; a check-in alone is no shift yet."""
    sv = DutyShiftView
    stmt = select(
        sv.duty_center_id, sv.starts_at, sv.ends_at, sv.checked_in_at, sv.checked_in_late
    ).where(sv.starts_at < end, sv.ends_at > start)
    if sector_id is not None:
        stmt = stmt.where(sv.duty_center_id == sector_center_id(sector_id))
    return [
        ShiftFact(center, starts_at, ends_at, checked_in_at, late)
        for center, starts_at, ends_at, checked_in_at, late in await session.execute(stmt)
        if starts_at is not None and ends_at is not None  # as the WHERE has made sure
    ]


async def roster_facts(
    session: AsyncSession, *, start: datetime, end: datetime, sector_id: str | None
) -> list[RosterFact]:
    """Rosters whose period overlaps [start, end)."""
    rv = RosterView
    stmt = select(rv.duty_center_id, rv.period_start, rv.period_end, rv.first_published_at).where(
        rv.period_start < end, rv.period_end > start
    )
    if sector_id is not None:
        stmt = stmt.where(rv.duty_center_id == sector_center_id(sector_id))
    return [RosterFact(*row) for row in await session.execute(stmt)]


async def device_facts(
    session: AsyncSession, *, start: datetime, end: datetime, sector_id: str | None
) -> DeviceFacts:
    """Devices' status changes and the hourly quality counts of [start, end)."""
    changes, names = await status_change_facts(session, start=start, end=end)
    return DeviceFacts(
        status_changes=changes,
        names=names,
        quality_hours=await quality_hour_facts(session, start=start, end=end, sector_id=sector_id),
        quality_devices=await most_flagged_facts(
            session, start=start, end=end, sector_id=sector_id
        ),
        sector_id=sector_id,
    )


async def status_change_facts(
    session: AsyncSession, *, start: datetime, end: datetime
) -> tuple[list[StatusChangeFact], dict[str, str | None]]:
    """Every device's status changes from its last instant before `start` (which gives its
    status at the start) to `end`, and the devices' names. One index probe per device for
    that instant; the sector filter applies to the periods these make (reports/devices.py)."""
    c, d, earlier = DeviceStatusChangeView, DeviceView, aliased(DeviceStatusChangeView)
    last_before = (
        select(func.max(earlier.changed_at).label("at"))
        .where(earlier.device_id == d.device_id, earlier.changed_at < start)
        .lateral()
    )
    rows = await session.execute(
        select(
            d.device_id,
            d.name,
            c.status,
            c.previous_status,
            c.changed_at,
            c.sector_id,
            c.scenario_id,
            c.town_id,
        )
        .select_from(d)
        .join(last_before, true())
        .join(
            c,
            and_(
                c.device_id == d.device_id,
                c.changed_at >= func.coalesce(last_before.c.at, start),
                c.changed_at < end,
            ),
        )
    )
    changes: list[StatusChangeFact] = []
    names: dict[str, str | None] = {}
    for device_id, name, status, previous, at, sector, scenario, town in rows:
        names[device_id] = name
        changes.append(
            StatusChangeFact(
                device_id,
                cast("DeviceState", status),
                cast("DeviceState | None", previous),
                at,
                Place(sector, scenario, town),
            )
        )
    return changes, names


async def quality_hour_facts(
    session: AsyncSession, *, start: datetime, end: datetime, sector_id: str | None
) -> list[QualityHourFact]:
    """The sectors' hourly quality counts of the hours starting in [start, end)."""
    q = ReadingQualityView
    stmt = select(q.sector_id, q.hour_start, q.readings, q.flagged, q.by_flag).where(
        q.hour_start >= start, q.hour_start < end
    )
    if sector_id is not None:
        stmt = stmt.where(q.sector_id == sector_id)
    return [QualityHourFact(*row) for row in await session.execute(stmt)]


async def most_flagged_facts(
    session: AsyncSession, *, start: datetime, end: datetime, sector_id: str | None
) -> list[DeviceQualityFact]:
    """The devices with the most flagged readings in the hours starting in [start, end), as
    the hourly counts listed them, with their sums; each device's name and place are those
    of its last hour listed."""
    q = ReadingQualityDeviceView
    where = [q.hour_start >= start, q.hour_start < end]
    if sector_id is not None:
        where.append(q.sector_id == sector_id)
    top = list(
        await session.scalars(
            select(q.device_id)
            .where(*where)
            .group_by(q.device_id)
            .order_by(func.sum(q.flagged).desc(), q.device_id)
            .limit(DEVICES_LISTED)
        )
    )
    if not top:
        return []
    listed: dict[str, list[ReadingQualityDeviceView]] = {}
    rows = await session.scalars(
        select(q).where(*where, q.device_id.in_(top)).order_by(q.hour_start, q.sector_id)
    )
    for row in rows:
        listed.setdefault(row.device_id, []).append(row)
    facts = []
    for device_id, hours in listed.items():
        last = hours[-1]
        facts.append(
            DeviceQualityFact(
                device_id=device_id,
                name=last.name,
                sector_id=last.sector_id,
                scenario_id=last.scenario_id,
                town_id=last.town_id,
                readings=sum(h.readings for h in hours),
                flagged=sum(h.flagged for h in hours),
                by_flag=flag_counts(h.by_flag for h in hours),
            )
        )
    return facts


@dataclass(frozen=True, slots=True)
class AlarmTrail:
    alarm_id: str
    alarm: AlarmView | None
    work_orders: list[WorkOrderView]
    notifications: list[NotificationView]


async def get_alarm_trail(
    session: AsyncSession, *, alarm_id: str, scope: Scope = DISTRICT
) -> AlarmTrail:
    """One alarm as seen from every topic: its view row, its work orders, its notifications.
    Outside the caller's scope (or not yet placed, for a narrower scope) it is not found."""
    alarm = await session.get(AlarmView, alarm_id)
    if not scope.is_district and (alarm is None or not scope.holds(alarm)):
        raise NotFound(f"Reporting has no event of alarm {alarm_id!r}.")
    work_orders = (
        await session.scalars(
            select(WorkOrderView)
            .where(WorkOrderView.alarm_id == alarm_id)
            .order_by(WorkOrderView.created_at, WorkOrderView.work_order_id)
        )
    ).all()
    notifications = (
        await session.scalars(
            select(NotificationView)
            .where(NotificationView.alarm_id == alarm_id)
            .order_by(NotificationView.sent_at, NotificationView.notification_id)
        )
    ).all()
    if alarm is None and not work_orders and not notifications:
        raise NotFound(f"Reporting has no event of alarm {alarm_id!r}.")
    return AlarmTrail(alarm_id, alarm, list(work_orders), list(notifications))
