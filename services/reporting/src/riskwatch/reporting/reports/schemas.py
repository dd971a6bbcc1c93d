"""API models of reports."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from riskwatch.common.events.base import Level


class _Read(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class LevelCounts(_Read):
    blue: int
    yellow: int
    orange: int
    red: int


class AlarmStatusCounts(_Read):
    active: int
    cleared: int


class AlarmSummary(_Read):
    total: int
    by_level: LevelCounts
    by_sector: dict[str, int]
    by_status: AlarmStatusCounts
    unreached: int
    unreached_ids: list[str]


class WorkOrderSummary(_Read):
    created: int
    closed: int
    open: int
    closed_on_time: int
    closed_late: int
    overdue_open: int
    on_time_rate: float | None


class NotificationSummary(_Read):
    total: int
    by_channel: dict[str, int]
    delivered: int
    failed: int
    acknowledged: int
    pending: int


class DutyCenterSummary(_Read):
    duty_center_id: str
    shifts: int
    checked_in: int
    check_in_rate: float | None
    late_check_ins: int
    minutes_without_anyone_on_duty: float
    rosters: int
    rosters_published_on_time: int


class MonthlyReportRead(_Read):
    """One calendar month in the district's time zone. Alarms count by `raised_at`, work
    orders by `created_at`, notifications by when they went out, shifts by when they start;
    cleared / closed / delivered / checked in are read as of `as_of` = min(window_end,
    generated_at). `alarms.unreached`: raised before `as_of` with no notification at all (the
    first 50 ids in `unreached_ids`). `duty`: one entry per duty center with a shift
    overlapping the month (a sector's report: its own center `sector-<sector_id>` only), the
    minutes of [window_start, as_of) no published shift covered, and its rosters, on time when
    first published no later than their period's start."""

    month: str
    timezone: str
    sector_id: str | None = None
    window_start: datetime
    window_end: datetime
    as_of: datetime
    generated_at: datetime
    alarms: AlarmSummary
    work_orders: WorkOrderSummary
    notifications: NotificationSummary
    duty: list[DutyCenterSummary]


class AlarmViewRead(_Read):
    alarm_id: str
    rule_id: str
    rule_version: int
    device_id: str
    sector_id: str
    scenario_id: str
    town_id: str | None
    metric: str
    level: Level
    status: str
    raised_at: datetime
    received_at: datetime
    cleared_at: datetime | None
    cleared_reason: str | None
    updated_at: datetime


class WorkOrderViewRead(_Read):
    work_order_id: str
    alarm_id: str
    level: Level
    status: str
    sector_id: str
    scenario_id: str
    town_id: str | None
    device_id: str
    created_at: datetime
    due_at: datetime
    accepted_at: datetime | None
    disposed_at: datetime | None
    closed_at: datetime | None
    overdue_at: datetime | None
    updated_at: datetime


class NotificationViewRead(_Read):
    notification_id: str
    alarm_id: str
    level: Level
    duty_center_id: str
    person_id: str
    channel: str
    attempt: int
    status: str
    sent_at: datetime
    dispatched_at: datetime | None
    delivered_at: datetime | None
    failed_at: datetime | None
    gave_up_at: datetime | None
    acknowledged_at: datetime | None
    updated_at: datetime


class AlarmTrailRead(_Read):
    """What reporting knows of one alarm. `alarm` is null while only its work orders or
    notifications have arrived: the topics are independent and may overtake each other."""

    alarm_id: str
    alarm: AlarmViewRead | None
    work_orders: list[WorkOrderViewRead]
    notifications: list[NotificationViewRead]
