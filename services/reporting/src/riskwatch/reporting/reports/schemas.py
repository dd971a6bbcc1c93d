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


class ResponseStatsRead(_Read):
    """Reach and acknowledgement of a set of the month's alarms.

    - `reached`: alarms of which at least one notification to a person (any channel but a
      duty center's group robot, which posts to a chat) was delivered, or any notification
      acknowledged, before `as_of`. An acknowledgement proves delivery; being sent does not:
      an SMS the provider accepted but never confirmed with a delivery receipt has reached
      nobody as far as the report knows.
    - `acknowledged`: alarms of which any notification was acknowledged (签收) before `as_of`.
    - `time_to_acknowledge_p50_s` / `_p90_s`: of the acknowledged alarms, the first
      acknowledgement minus the alarm's `raised_at` (its first raise, kept when it escalated
      to a higher level), in seconds; percentiles by the nearest-rank method (the smallest time
      that at least 50% / 90% of the times are less than or equal to, always one of them, no
      interpolation); null when none was acknowledged.
    - Rates are over `alarms` and null when it is 0.
    - `acknowledged_via`: the acknowledged alarms by how their first acknowledgement came
      (`api` the duty app, `sms` a reply, `voice` a keypress on the reminder call); adds up to
      `acknowledged`.
    """

    alarms: int
    reached: int
    reach_rate: float | None
    acknowledged: int
    acknowledgement_rate: float | None
    time_to_acknowledge_p50_s: float | None
    time_to_acknowledge_p90_s: float | None
    acknowledged_via: dict[str, int]


class ResponseSummary(_Read):
    """Reach and acknowledgement of the alarms raised in the month, counting every notification
    of them (all escalation steps, centers, persons and channels) sent before `as_of`.

    - `overall`: every alarm raised in the month.
    - `by_level`: by the highest level the alarm reached, red to blue.
    - `by_duty_center`: per duty center that a notification of these alarms was sent for
      before `as_of`; its `alarms` are those alarms, reached or acknowledged when one of the
      center's own notifications was, timed from the center's own first acknowledgement. In a
      sector's report, every center notified of the sector's alarms (street, sector, district).

    As everywhere in the report, what happened at or after `as_of` does not count: an alarm
    raised in the month's last minutes and acknowledged in the next month is unacknowledged in
    this month's report, so a past month's figures do not change when generated again.
    """

    overall: ResponseStatsRead
    by_level: dict[str, ResponseStatsRead]
    by_duty_center: dict[str, ResponseStatsRead]


class MonthlyReportRead(_Read):
    """One calendar month in the district's time zone. Alarms count by `raised_at`, work
    orders by `created_at`, notifications by when they went out, shifts by when they start;
    cleared / closed / delivered / checked in are read as of `as_of` = min(window_end,
    generated_at). `alarms.unreached`: raised before `as_of` with no notification at all (the
    first 50 ids in `unreached_ids`). `duty`: one entry per duty center with a shift
    overlapping the month (a sector's report: its own center `sector-<sector_id>` only), the
    minutes of [window_start, as_of) no published shift covered, and its rosters, on time when
    first published no later than their period's start. `response`: reach rate,
    acknowledgement rate and time to acknowledge (p50 / p90) of the month's alarms, overall, by
    level and by duty center (definitions in `ResponseSummary` and `ResponseStatsRead`); unlike
    `alarms.unreached` (no notification made at all), an alarm counts as reached only once a
    notification was delivered to a person or acknowledged."""

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
    response: ResponseSummary


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
    acknowledged_via: str | None  # api | sms | voice: how the earliest acknowledgement came
    updated_at: datetime


class AlarmTrailRead(_Read):
    """What reporting knows of one alarm. `alarm` is null while only its work orders or
    notifications have arrived: the topics are independent and may overtake each other."""

    alarm_id: str
    alarm: AlarmViewRead | None
    work_orders: list[WorkOrderViewRead]
    notifications: list[NotificationViewRead]
