"""Builders for reporting tests: the other services' event payloads, with sensible defaults."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from riskwatch.common.events import EventPayload, Level, new_event
from riskwatch.common.events.alarms import AlarmCleared, AlarmRaised, AlarmSnapshot, AlarmUpdated
from riskwatch.common.events.base import DeviceRef
from riskwatch.common.events.device_status import DeviceState, DeviceStatusChanged
from riskwatch.common.events.duty import DutyCheckedIn, RosterPublished, ShiftRef
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.events.notifications import (
    AckVia,
    Channel,
    NotificationAcknowledged,
    NotificationDelivered,
    NotificationDispatched,
    NotificationFailed,
    NotificationRef,
)
from riskwatch.common.events.reading_quality import DeviceQuality, ReadingQualityCounted
from riskwatch.common.events.workorders import (
    Stage,
    WorkOrderAction,
    WorkOrderCreated,
    WorkOrderOverdue,
    WorkOrderSnapshot,
    WorkOrderStateChanged,
    WorkOrderStatus,
)

T0 = datetime(2026, 10, 15, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, mid-October
SECTOR_OF = {"gas": "construction", "flood-typhoon": "emergency", "elevators": "market"}


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def envelope(payload: EventPayload, subject: str | None = None) -> Envelope[EventPayload]:
    return new_event(payload, source="/test", subject=subject)


def alarm(
    alarm_id: str,
    *,
    level: Level = Level.YELLOW,
    scenario_id: str = "gas",
    raised_at: datetime = T0,
    status: str = "active",
) -> AlarmSnapshot:
    return AlarmSnapshot(
        alarm_id=alarm_id,
        rule_id=f"{scenario_id}-rule",
        rule_version=1,
        device=DeviceRef(
            device_id=f"{scenario_id}-001",
            sector_id=SECTOR_OF[scenario_id],
            scenario_id=scenario_id,
            town_id="lujiazui",
        ),
        metric="m",
        level=level,
        status="cleared" if status == "cleared" else "active",
        value=1.0,
        threshold=1.0,
        observed_at=raised_at - timedelta(seconds=20),
        received_at=raised_at - timedelta(seconds=10),
        raised_at=raised_at,
    )


def raised(
    alarm_id: str,
    *,
    level: Level = Level.YELLOW,
    scenario_id: str = "gas",
    raised_at: datetime = T0,
) -> AlarmRaised:
    return AlarmRaised(
        alarm=alarm(alarm_id, level=level, scenario_id=scenario_id, raised_at=raised_at)
    )


def updated(alarm_id: str, *, level: Level, previous: Level, at: datetime) -> AlarmUpdated:
    return AlarmUpdated(alarm=alarm(alarm_id, level=level), previous_level=previous, updated_at=at)


def cleared(alarm_id: str, *, at: datetime, level: Level = Level.YELLOW) -> AlarmCleared:
    return AlarmCleared(
        alarm=alarm(alarm_id, level=level, status="cleared"),
        cleared_at=at,
        reason="work_order_closed",
    )


# The limits of a default order, from its creation (the close limit is its due_at).
LIMITS: dict[Stage, timedelta] = {
    "accept": timedelta(minutes=15),
    "on_site": timedelta(hours=1),
    "clear": timedelta(hours=2),
    "feedback": timedelta(hours=3),
}


def work_order(
    work_order_id: str,
    alarm_id: str,
    *,
    status: WorkOrderStatus = "created",
    created_at: datetime = T0,
    due_at: datetime | None = None,
    level: Level = Level.YELLOW,
    sector_id: str = "construction",
    town_id: str | None = "lujiazui",
    unit_id: str | None = "street-lujiazui",
    rule_id: str | None = "gas-rule",
    assignee: str | None = None,
    false_alarm: bool = False,
    deadlines: dict[Stage, datetime] | None = None,
) -> WorkOrderSnapshot:
    """An order from a gas alarm with every stage's limit: `LIMITS` from creation, unless
    `deadlines` says otherwise; the close limit is `due_at` (4 hours by default)."""
    due = due_at or created_at + timedelta(hours=4)
    limits = {stage: created_at + limit for stage, limit in LIMITS.items()} | {"close": due}
    return WorkOrderSnapshot(
        work_order_id=work_order_id,
        alarm_id=alarm_id,
        rule_id=rule_id,
        level=level,
        status=status,
        sector_id=sector_id,
        scenario_id="gas",
        town_id=town_id,
        device_id="gas-001",
        created_at=created_at,
        due_at=due,
        unit_id=unit_id,
        assignee=assignee,
        deadlines=limits if deadlines is None else deadlines,
        false_alarm=false_alarm,
    )


def wo_created(work_order_id: str, alarm_id: str, **snapshot: Any) -> WorkOrderCreated:
    """`snapshot`: the keyword arguments of `work_order`."""
    return WorkOrderCreated(work_order=work_order(work_order_id, alarm_id, **snapshot))


# The usual way into each status: from where, by which action.
_INTO: dict[WorkOrderStatus, tuple[WorkOrderStatus, WorkOrderAction]] = {
    "dispatched": ("created", "dispatch"),
    "accepted": ("dispatched", "accept"),
    "on_site": ("accepted", "arrive"),
    "cleared": ("on_site", "clear"),
    "feedback": ("cleared", "feedback"),
    "reviewed": ("feedback", "review"),
    "closed": ("reviewed", "close"),
    "returned": ("dispatched", "return"),
}


def wo_moved(
    work_order_id: str,
    alarm_id: str,
    to: WorkOrderStatus,
    *,
    at: datetime,
    action: WorkOrderAction | None = None,
    from_status: WorkOrderStatus | None = None,
    **snapshot: Any,
) -> WorkOrderStateChanged:
    """A move into `to`, by default the usual way (`_INTO`); `snapshot`: as `work_order`'s."""
    usual_from, usual_action = _INTO[to]
    return WorkOrderStateChanged(
        work_order=work_order(work_order_id, alarm_id, status=to, **snapshot),
        action=action or usual_action,
        from_status=from_status or usual_from,
        to_status=to,
        actor="handler-1",
        changed_at=at,
    )


def wo_overdue(
    work_order_id: str, alarm_id: str, *, at: datetime, stage: Stage = "accept", **snapshot: Any
) -> WorkOrderOverdue:
    order = work_order(work_order_id, alarm_id, **snapshot)
    return WorkOrderOverdue(
        work_order=order, stage=stage, stage_due_at=order.deadlines[stage], overdue_at=at
    )


def notification(
    notification_id: str,
    alarm_id: str,
    *,
    channel: Channel = "sms",
    attempt: int = 1,
    duty_center_id: str = "district-center",
    person_id: str = "p-1",
) -> NotificationRef:
    return NotificationRef(
        notification_id=notification_id,
        alarm_id=alarm_id,
        level=Level.YELLOW,
        duty_center_id=duty_center_id,
        person_id=person_id,
        channel=channel,
        attempt=attempt,
    )


def dispatched(
    notification_id: str,
    alarm_id: str,
    *,
    at: datetime,
    channel: Channel = "sms",
    attempt: int = 1,
    duty_center_id: str = "district-center",
) -> NotificationDispatched:
    return NotificationDispatched(
        notification=notification(
            notification_id,
            alarm_id,
            channel=channel,
            attempt=attempt,
            duty_center_id=duty_center_id,
        ),
        dispatched_at=at,
    )


def delivered(
    notification_id: str,
    alarm_id: str,
    *,
    at: datetime,
    channel: Channel = "sms",
    duty_center_id: str = "district-center",
) -> NotificationDelivered:
    return NotificationDelivered(
        notification=notification(
            notification_id, alarm_id, channel=channel, duty_center_id=duty_center_id
        ),
        delivered_at=at,
    )


def failed(
    notification_id: str,
    alarm_id: str,
    *,
    at: datetime,
    channel: Channel = "sms",
    will_retry: bool = False,
    attempt: int = 1,
) -> NotificationFailed:
    return NotificationFailed(
        notification=notification(notification_id, alarm_id, channel=channel, attempt=attempt),
        failed_at=at,
        error="provider timeout",
        will_retry=will_retry,
    )


def acknowledged(
    notification_id: str,
    alarm_id: str,
    *,
    at: datetime,
    channel: Channel = "sms",
    via: AckVia = "api",
    duty_center_id: str = "district-center",
) -> NotificationAcknowledged:
    return NotificationAcknowledged(
        notification=notification(
            notification_id, alarm_id, channel=channel, duty_center_id=duty_center_id
        ),
        acknowledged_at=at,
        acknowledged_by="p-1",
        via=via,
    )


def roster(
    roster_id: str,
    *shifts: tuple[str, str],
    version: int = 1,
    published_at: datetime = T0,
    start: datetime = T0,
    duty_center_id: str = "district-center",
    shift_hours: int = 12,
) -> RosterPublished:
    """Shifts back to back from `start`, `shift_hours` each, in the order given."""
    return RosterPublished(
        roster_id=roster_id,
        version=version,
        duty_center_id=duty_center_id,
        period_start=start,
        period_end=start + timedelta(days=7),
        shifts=[
            ShiftRef(
                shift_id=shift_id,
                person_id=person_id,
                starts_at=start + timedelta(hours=shift_hours * i),
                ends_at=start + timedelta(hours=shift_hours * (i + 1)),
            )
            for i, (shift_id, person_id) in enumerate(shifts)
        ],
        published_at=published_at,
    )


def checked_in(
    shift_id: str,
    person_id: str,
    *,
    at: datetime,
    late: bool = False,
    via: Literal["api", "sms"] = "api",
    duty_center_id: str = "district-center",
) -> DutyCheckedIn:
    return DutyCheckedIn(
        duty_center_id=duty_center_id,
        shift_id=shift_id,
        person_id=person_id,
        checked_in_at=at,
        late=late,
        via=via,
    )


def device(
    device_id: str, *, scenario_id: str = "gas", town_id: str | None = "lujiazui"
) -> DeviceRef:
    return DeviceRef(
        device_id=device_id,
        sector_id=SECTOR_OF[scenario_id],
        scenario_id=scenario_id,
        town_id=town_id,
        name=device_id.upper(),
    )


def status_changes(
    device_id: str,
    *changes: tuple[DeviceState, datetime],
    scenario_id: str = "gas",
    town_id: str | None = "lujiazui",
) -> list[DeviceStatusChanged]:
    """A device's status changes in order, each from the one before (the first from none), as
    ingest's liveness makes them."""
    ref = device(device_id, scenario_id=scenario_id, town_id=town_id)
    previous: list[DeviceState | None] = [None, *(status for status, _ in changes)]
    return [
        DeviceStatusChanged(
            device=ref,
            status=status,
            previous_status=before,
            changed_at=at,
            reason="no_reading" if status == "offline" else "reading",
        )
        for (status, at), before in zip(changes, previous, strict=False)
    ]


def quality_counted(
    sector_id: str,
    hour_start: datetime,
    *,
    readings: int,
    devices: dict[str, dict[str, int]] | None = None,
    device_readings: int = 100,
) -> ReadingQualityCounted:
    """A sector's hour with `readings` readings; `devices`: each flagged device's readings per
    flag (a reading with one flag each), `device_readings` readings each."""
    devices = devices or {}
    listed = [
        DeviceQuality(
            device=device(
                device_id, scenario_id=next(k for k, v in SECTOR_OF.items() if v == sector_id)
            ),
            readings=device_readings,
            flagged=sum(flags.values()),
            by_flag=flags,
        )
        for device_id, flags in devices.items()
    ]
    by_flag: dict[str, int] = {}
    for d in listed:
        for name, n in d.by_flag.items():
            by_flag[name] = by_flag.get(name, 0) + n
    return ReadingQualityCounted(
        sector_id=sector_id,
        hour_start=hour_start,
        hour_end=hour_start + timedelta(hours=1),
        counted_at=hour_start + timedelta(hours=1, minutes=10),
        readings=readings,
        flagged=sum(d.flagged for d in listed),
        by_flag=by_flag,
        devices_flagged=len(listed),
        devices=listed,
    )
