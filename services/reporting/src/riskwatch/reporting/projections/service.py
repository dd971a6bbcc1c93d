"""Use cases of the projections: apply one consumed event to its read model.

Each is an INSERT ... ON CONFLICT DO UPDATE whose SET only moves a row forward (highest level,
furthest status, earliest time per stage, newest snapshot or version for mutable fields; a work
order's status is its newest event's), so the same event twice, or an older event after a newer
one, changes nothing; a roster's newer version also deletes the shifts it dropped. A device's
status changes are kept each once, by event id (the report rebuilds the periods in time
order), and a sector's hourly quality counts once, by sector and hour. Callers own the
transaction: the consumer's, one per event.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, delete, func, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.events.alarms import AlarmCleared, AlarmRaised, AlarmUpdated
from riskwatch.common.events.device_status import DeviceStatusChanged
from riskwatch.common.events.duty import DutyCheckedIn, RosterPublished
from riskwatch.common.events.notifications import (
    NotificationAcknowledged,
    NotificationDelivered,
    NotificationDispatched,
    NotificationFailed,
)
from riskwatch.common.events.reading_quality import ReadingQualityCounted
from riskwatch.common.events.workorders import (
    STAGES,
    WorkOrderCreated,
    WorkOrderOverdue,
    WorkOrderStateChanged,
)
from riskwatch.reporting.projections.domain import (
    ALARM_ACTIVE,
    ALARM_CLEARED,
    LEVEL_RANK,
    NOTIFICATION_STAGES,
    NOTIFICATION_STATUS_BY_STAGE,
    WORK_ORDER_CLOSED,
    WORK_ORDER_STAMPED,
    WorkOrderEventKind,
    notification_status,
    snapshot_rank,
)
from riskwatch.reporting.projections.models import (
    AlarmView,
    DutyShiftView,
    NotificationView,
    ReadingQualityDeviceView,
    ReadingQualityView,
    RosterView,
    WorkOrderView,
)

AlarmEvent = AlarmRaised | AlarmUpdated | AlarmCleared
WorkOrderEvent = WorkOrderCreated | WorkOrderStateChanged | WorkOrderOverdue
NotificationEvent = (
    NotificationDispatched | NotificationDelivered | NotificationFailed | NotificationAcknowledged
)


# Columns a roster's newer version overwrites; those of its shifts that come from the roster.
_ROSTER_VERSIONED = (
    "duty_center_id",
    "version",
    "period_start",
    "period_end",
    "shift_count",
    "published_at",
)
_SHIFT_FROM_ROSTER = (
    "duty_center_id",
    "person_id",
    "roster_id",
    "starts_at",
    "ends_at",
    "published_at",
)


def _rank(column: Any, ranks: Mapping[str, int]) -> ColumnElement[int]:
    return case(dict(ranks), value=column, else_=0)


def _further(existing: Any, incoming: Any, ranks: Mapping[str, int]) -> ColumnElement[Any]:
    return case((_rank(incoming, ranks) > _rank(existing, ranks), incoming), else_=existing)


async def project_alarm(session: AsyncSession, *, event: AlarmEvent) -> None:
    """Every alarm event carries the whole snapshot, so any of them can create the row."""
    snap = event.alarm
    cleared = isinstance(event, AlarmCleared)
    if isinstance(event, AlarmRaised):
        at = snap.raised_at
    elif isinstance(event, AlarmUpdated):
        at = event.updated_at
    else:
        at = event.cleared_at
    stmt = insert(AlarmView).values(
        alarm_id=snap.alarm_id,
        rule_id=snap.rule_id,
        rule_version=snap.rule_version,
        device_id=snap.device.device_id,
        sector_id=snap.device.sector_id,
        scenario_id=snap.device.scenario_id,
        town_id=snap.device.town_id,
        metric=snap.metric,
        level=snap.level.value,
        status=ALARM_CLEARED if cleared else ALARM_ACTIVE,  # cleared iff cleared_at is set
        raised_at=snap.raised_at,
        received_at=snap.received_at,
        cleared_at=event.cleared_at if isinstance(event, AlarmCleared) else None,
        cleared_reason=event.reason if isinstance(event, AlarmCleared) else None,
        updated_at=at,
    )
    new = stmt.excluded
    first_clear = AlarmView.cleared_at.is_(None) | (new.cleared_at < AlarmView.cleared_at)
    stmt = stmt.on_conflict_do_update(
        index_elements=[AlarmView.alarm_id],
        set_={
            "level": _further(AlarmView.level, new.level, LEVEL_RANK),
            # Cleared wins: a late AlarmRaised or AlarmUpdated never reopens an alarm.
            "status": case((AlarmView.status == ALARM_CLEARED, AlarmView.status), else_=new.status),
            "raised_at": func.least(AlarmView.raised_at, new.raised_at),
            "received_at": func.least(AlarmView.received_at, new.received_at),
            "cleared_at": func.least(AlarmView.cleared_at, new.cleared_at),
            "cleared_reason": case(
                (first_clear, func.coalesce(new.cleared_reason, AlarmView.cleared_reason)),
                else_=AlarmView.cleared_reason,
            ),
            "updated_at": func.greatest(AlarmView.updated_at, new.updated_at),
        },
    )
    await session.execute(stmt)


async def project_work_order(session: AsyncSession, *, event: WorkOrderEvent) -> None:
    """The newest event (by its own time, then `snapshot_rank`) gives the status and every
    field of the snapshot; each step keeps the first time the order became it; `closed_at` is
    the latest closing while the order is closed. Any arrival order gives the same row."""
    snap = event.work_order
    stamps: dict[str, datetime | None] = dict.fromkeys(
        (*WORK_ORDER_STAMPED.values(), "closed_at", "overdue_at")
    )
    status = snap.status
    false_alarm = snap.false_alarm
    kind: WorkOrderEventKind
    if isinstance(event, WorkOrderCreated):
        kind, at = "created", snap.created_at
    elif isinstance(event, WorkOrderStateChanged):
        kind, at, status = "state_changed", event.changed_at, event.to_status
        false_alarm = false_alarm or event.action == "false_alarm"
        # Only a move into a status is its reaching: closed -> closed (a note on a closed
        # order) does not close it again.
        if event.from_status != event.to_status:
            if event.to_status == WORK_ORDER_CLOSED:
                stamps["closed_at"] = at
            elif event.to_status in WORK_ORDER_STAMPED:
                stamps[WORK_ORDER_STAMPED[event.to_status]] = at
    else:
        kind, at = "overdue", event.overdue_at
        stamps["overdue_at"] = at
    deadlines = {f"{stage}_due_at": snap.deadlines.get(stage) for stage in STAGES}
    deadlines["close_due_at"] = deadlines["close_due_at"] or snap.due_at
    snapshot: dict[str, Any] = {
        "origin": snap.origin,
        "rule_id": snap.rule_id,
        "level": snap.level.value,
        "status": status,
        "sector_id": snap.sector_id,
        "scenario_id": snap.scenario_id,
        "town_id": snap.town_id,
        "device_id": snap.device_id,
        "tier": snap.tier,
        "unit_id": snap.unit_id,
        "assignee": snap.assignee,
        "false_alarm": false_alarm,
        "due_at": snap.due_at,
        **deadlines,
        "stage": snap.stage,
        "stage_due_at": snap.stage_due_at,
        "snapshot_rank": snapshot_rank(kind, status),
    }
    stmt = insert(WorkOrderView).values(
        work_order_id=snap.work_order_id,
        alarm_id=snap.alarm_id,
        created_at=snap.created_at,
        updated_at=at,
        **snapshot,
        **stamps,
    )
    new = stmt.excluded
    wv = WorkOrderView
    newer = (new.updated_at > wv.updated_at) | (
        (new.updated_at == wv.updated_at) & (new.snapshot_rank > wv.snapshot_rank)
    )
    status_now = case((newer, new.status), else_=wv.status)
    stmt = stmt.on_conflict_do_update(
        index_elements=[wv.work_order_id],
        set_={
            **{c: case((newer, getattr(new, c)), else_=getattr(wv, c)) for c in snapshot},
            "created_at": func.least(wv.created_at, new.created_at),
            **{c: func.least(getattr(wv, c), getattr(new, c)) for c in stamps if c != "closed_at"},
            # Closed now: the newest closing seen is the one that closed it last (a closing
            # older than a reopening arrives late only while the order is not closed).
            "closed_at": case(
                (status_now == WORK_ORDER_CLOSED, func.greatest(wv.closed_at, new.closed_at)),
                else_=None,
            ),
            "updated_at": func.greatest(wv.updated_at, new.updated_at),
        },
    )
    await session.execute(stmt)


async def project_notification(session: AsyncSession, *, event: NotificationEvent) -> None:
    """Each stage keeps its earliest time; the status follows from the stages reached."""
    ref = event.notification
    reached: dict[str, datetime] = {}
    via: str | None = None  # only an acknowledgement says how it came
    if isinstance(event, NotificationDispatched):
        reached["dispatched_at"] = event.dispatched_at
    elif isinstance(event, NotificationDelivered):
        reached["delivered_at"] = event.delivered_at
    elif isinstance(event, NotificationFailed):
        reached["failed_at"] = event.failed_at
        if not event.will_retry:
            reached["gave_up_at"] = event.failed_at
    else:
        reached["acknowledged_at"] = event.acknowledged_at
        via = event.via
    at = min(reached.values())
    stmt = insert(NotificationView).values(
        notification_id=ref.notification_id,
        alarm_id=ref.alarm_id,
        level=ref.level.value,
        duty_center_id=ref.duty_center_id,
        person_id=ref.person_id,
        channel=ref.channel,
        attempt=ref.attempt,
        status=notification_status(set(reached)),
        sent_at=at,
        updated_at=at,
        acknowledged_via=via,
        **{stage: reached.get(stage) for stage in NOTIFICATION_STAGES},
    )
    new = stmt.excluded
    nv = NotificationView
    merged: dict[str, ColumnElement[Any]] = {
        stage: func.least(getattr(nv, stage), getattr(new, stage)) for stage in reached
    }
    if via is not None:
        # The earliest acknowledgement names the channel; at the same instant the first via in
        # alphabetical order (LEAST skips NULL), so the arrival order of events cannot matter.
        merged["acknowledged_via"] = case(
            (
                nv.acknowledged_at.is_(None) | (new.acknowledged_at < nv.acknowledged_at),
                new.acknowledged_via,
            ),
            (
                new.acknowledged_at == nv.acknowledged_at,
                func.least(nv.acknowledged_via, new.acknowledged_via),
            ),
            else_=nv.acknowledged_via,
        )
    status = case(
        *(
            (func.coalesce(getattr(nv, stage), getattr(new, stage)).is_not(None), name)
            for name, stage in NOTIFICATION_STATUS_BY_STAGE
        ),
        else_=nv.status,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[nv.notification_id],
        set_={
            **merged,
            "status": status,
            "sent_at": func.coalesce(
                func.least(nv.dispatched_at, new.dispatched_at), func.least(nv.sent_at, new.sent_at)
            ),
            "attempt": func.greatest(nv.attempt, new.attempt),
            "updated_at": func.greatest(nv.updated_at, new.updated_at),
        },
    )
    await session.execute(stmt)


async def project_roster(session: AsyncSession, *, event: RosterPublished) -> None:
    """A roster's highest version replaces its older ones, in whatever order they arrive: its
    shifts not listed any more are deleted, the listed ones upserted (a check-in that arrived
    before them stays). An older version changes nothing but an earlier first publication."""
    stmt = insert(RosterView).values(
        roster_id=event.roster_id,
        duty_center_id=event.duty_center_id,
        version=event.version,
        period_start=event.period_start,
        period_end=event.period_end,
        shift_count=len({s.shift_id for s in event.shifts}),
        published_at=event.published_at,
        first_published_at=event.published_at,
    )
    new = stmt.excluded
    newer = new.version > RosterView.version
    upsert = stmt.on_conflict_do_update(
        index_elements=[RosterView.roster_id],
        set_={
            **{
                c: case((newer, getattr(new, c)), else_=getattr(RosterView, c))
                for c in _ROSTER_VERSIONED
            },
            "first_published_at": func.least(RosterView.first_published_at, new.first_published_at),
        },
        where=newer | (new.first_published_at < RosterView.first_published_at),
    ).returning(RosterView.version)
    # No row back: a replay, nothing written. Another version back: an older one arrived late.
    if await session.scalar(upsert) != event.version:
        return
    shifts = {s.shift_id: s for s in event.shifts}  # ON CONFLICT cannot touch a row twice
    await session.execute(
        delete(DutyShiftView).where(
            DutyShiftView.roster_id == event.roster_id, DutyShiftView.shift_id.not_in(shifts)
        )
    )
    if not shifts:
        return
    rows = [
        {
            "shift_id": s.shift_id,
            "duty_center_id": event.duty_center_id,
            "person_id": s.person_id,
            "roster_id": event.roster_id,
            "starts_at": s.starts_at,
            "ends_at": s.ends_at,
            "published_at": event.published_at,
        }
        for s in shifts.values()
    ]
    shift_stmt = insert(DutyShiftView).values(rows)
    new_shift = shift_stmt.excluded
    shift_stmt = shift_stmt.on_conflict_do_update(
        index_elements=[DutyShiftView.shift_id],
        set_={c: getattr(new_shift, c) for c in _SHIFT_FROM_ROSTER},
    )
    await session.execute(shift_stmt)


async def project_check_in(session: AsyncSession, *, event: DutyCheckedIn) -> None:
    """The first check-in counts; it may arrive before the roster that planned the shift."""
    stmt = insert(DutyShiftView).values(
        shift_id=event.shift_id,
        duty_center_id=event.duty_center_id,
        person_id=event.person_id,
        checked_in_at=event.checked_in_at,
        checked_in_by=event.person_id,
        checked_in_late=event.late,
        checked_in_via=event.via,
    )
    new = stmt.excluded
    first = DutyShiftView.checked_in_at.is_(None) | (
        new.checked_in_at < DutyShiftView.checked_in_at
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[DutyShiftView.shift_id],
        set_={
            "checked_in_at": func.least(DutyShiftView.checked_in_at, new.checked_in_at),
            **{
                c: case((first, getattr(new, c)), else_=getattr(DutyShiftView, c))
                for c in ("checked_in_by", "checked_in_late", "checked_in_via")
            },
        },
    )
    await session.execute(stmt)


# Plain statements, built once: a fleet's first readings bring thousands of these at once, and
# building the upsert's expression per event cost more than running it.
_KEEP_CHANGE = text(
    "INSERT INTO reporting.device_status_change_view (event_id, device_id, status,"
    " previous_status, changed_at, sector_id, scenario_id, town_id)"
    " VALUES (:event_id, :device_id, :status, :previous_status, :changed_at, :sector_id,"
    " :scenario_id, :town_id) ON CONFLICT (event_id) DO NOTHING"
)
# The newest change's place wins; at one instant the greatest place, so arrival order cannot
# matter.
_PLACE_DEVICE = text(
    "INSERT INTO reporting.device_view AS d (device_id, updated_at, name, sector_id,"
    " scenario_id, town_id) VALUES (:device_id, :changed_at, :name, :sector_id, :scenario_id,"
    " :town_id) ON CONFLICT (device_id) DO UPDATE SET name = excluded.name,"
    " sector_id = excluded.sector_id, scenario_id = excluded.scenario_id,"
    " town_id = excluded.town_id, updated_at = excluded.updated_at"
    " WHERE (excluded.updated_at, coalesce(excluded.name, ''), coalesce(excluded.sector_id, ''),"
    " coalesce(excluded.scenario_id, ''), coalesce(excluded.town_id, ''))"
    " > (d.updated_at, coalesce(d.name, ''), coalesce(d.sector_id, ''),"
    " coalesce(d.scenario_id, ''), coalesce(d.town_id, ''))"
)


async def project_device_status(
    session: AsyncSession, *, event: DeviceStatusChanged, event_id: str
) -> None:
    """Keep the change once; the device's row takes the place and name of its newest change
    (at one instant, the greatest place, so the order of arrival cannot matter)."""
    ref = event.device
    params = {
        "event_id": event_id,
        "device_id": ref.device_id,
        "status": event.status,
        "previous_status": event.previous_status,
        "changed_at": event.changed_at,
        "name": ref.name,
        "sector_id": ref.sector_id,
        "scenario_id": ref.scenario_id,
        "town_id": ref.town_id,
    }
    await session.execute(_KEEP_CHANGE, params)
    await session.execute(_PLACE_DEVICE, params)


async def project_reading_quality(session: AsyncSession, *, event: ReadingQualityCounted) -> None:
    """A sector's hour once: a second event of it (which ingest does not make) changes
    nothing."""
    kept = await session.scalar(
        insert(ReadingQualityView)
        .values(
            sector_id=event.sector_id,
            hour_start=event.hour_start,
            hour_end=event.hour_end,
            counted_at=event.counted_at,
            readings=event.readings,
            flagged=event.flagged,
            by_flag=event.by_flag,
            devices_flagged=event.devices_flagged,
        )
        .on_conflict_do_nothing()
        .returning(ReadingQualityView.sector_id)
    )
    if kept is None or not event.devices:
        return
    await session.execute(
        insert(ReadingQualityDeviceView)
        .values(
            [
                {
                    "sector_id": event.sector_id,
                    "hour_start": event.hour_start,
                    "device_id": d.device.device_id,
                    "name": d.device.name,
                    "scenario_id": d.device.scenario_id,
                    "town_id": d.device.town_id,
                    "readings": d.readings,
                    "flagged": d.flagged,
                    "by_flag": d.by_flag,
                }
                for d in event.devices
            ]
        )
        .on_conflict_do_nothing()
    )
