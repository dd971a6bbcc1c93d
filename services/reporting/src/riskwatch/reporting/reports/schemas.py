"""API models of reports."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from riskwatch.common.events.base import Level
from riskwatch.common.events.workorders import WorkOrderStatus


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


class StageStatsRead(_Read):
    """One stage of the loop (accept 接单, on_site 到场, clear 销警, feedback 闭环反馈, close 办结).

    - `completed`: orders that completed the stage before `as_of`: first became accepted /
      on_site / cleared / feedback; close: are closed, and `closed_at` (when they last became
      closed) is before `as_of`.
    - `on_time` / `late`: completed no later than / after the stage's deadline (set at the
      order's creation, counted from it; close: `due_at`). Orders from before stage deadlines
      existed have only the close one: completed but neither on time nor late.
    - `on_time_rate`: on_time / (on_time + late); null when none was judged.
    - `time_to_complete_p50_s` / `_p90_s`: completion minus `created_at`, in seconds, by the
      nearest-rank method; null when none completed.
    """

    completed: int
    on_time: int
    late: int
    on_time_rate: float | None
    time_to_complete_p50_s: float | None
    time_to_complete_p90_s: float | None


class WorkOrderStatsRead(_Read):
    """A set of work orders created in the month, read as of `as_of`.

    - `closed`: closed before `as_of` (an order reopened and not closed again is open);
      `open` = created - closed; `closed_on_time` / `closed_late`: `closed_at` no later than /
      after `due_at`; `on_time_rate` = closed_on_time / closed (null when nothing closed);
      `overdue_open`: open with `due_at` before `as_of`.
    - `overdue` (超时处置): closed after `due_at`, or not closed by `as_of` with `due_at` before
      it, i.e. closed_late + overdue_open; `overdue_share` = overdue / created, null when none
      was created (the district's target: 0.30% of a month's alarms).
    - `false_alarms`: closed as a false alarm (误报) before `as_of`; `false_alarm_share` =
      false_alarms / created (null when none was created); `false_alarms_by_rule`: by the
      alarm rule of the order, `none` for orders of no rule (made by hand).
    - `stages`: accept, on_site, clear, feedback, close, in that order (see `StageStatsRead`).
    """

    created: int
    closed: int
    open: int
    closed_on_time: int
    closed_late: int
    overdue_open: int
    on_time_rate: float | None
    overdue: int
    overdue_share: float | None
    false_alarms: int
    false_alarm_share: float | None
    false_alarms_by_rule: dict[str, int]
    stages: dict[str, StageStatsRead]


class WorkOrderSummary(WorkOrderStatsRead):
    """Every work order created in the month, then the same figures by responsible unit (the
    duty center it was dispatched to), by sector and by town: one entry per key that has an
    order, sorted; orders with no unit or no town are under `none`. The entries of a breakdown
    add up to the whole."""

    by_unit: dict[str, WorkOrderStatsRead]
    by_sector: dict[str, WorkOrderStatsRead]
    by_town: dict[str, WorkOrderStatsRead]


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


class UptimeStatsRead(_Read):
    """The time-weighted online rate of a set of devices over the month up to `as_of`.

    - `devices`: devices with observed time in the set.
    - `online_s` / `offline_s` / `observed_s`: the sum of their seconds online, observed and not
      online (offline or faulty), and observed. A device is observed from its first status
      change (ingest watches a device with a profile from its first reading); time before that
      and time after `as_of` are not.
    - `rate`: online_s / observed_s, in [0, 1]; null when nothing was observed. A group's rate
      is time-weighted, not a mean of its devices' rates: a device watched for a day weighs
      less than one watched all month.
    """

    devices: int
    online_s: float
    offline_s: float
    observed_s: float
    rate: float | None


class DeviceUptimeRead(_Read):
    """One device's online rate in the month; its sector, scenario and town are those of its
    last stretch in the month."""

    device_id: str
    name: str | None
    sector_id: str
    scenario_id: str
    town_id: str | None
    online_s: float
    offline_s: float
    observed_s: float
    rate: float | None


class OnlineSummary(_Read):
    """The devices' online rate (在线率), from ingest's device status changes: the same
    definition as ingest's `GET /api/v1/devices/online-rate`. A device's time counts for the
    sector, scenario and town it had when its status last changed before that time (in a
    sector's report, only the time devices spent in that sector).

    - `overall`: every device; `by_sector`: every sector of the report, then any other seen;
      `by_scenario`, `by_town` (`none`: devices of no town): each seen, sorted.
    - `least_online`: the 10 devices with offline time and the lowest rates, lowest first.
    """

    overall: UptimeStatsRead
    by_sector: dict[str, UptimeStatsRead]
    by_scenario: dict[str, UptimeStatsRead]
    by_town: dict[str, UptimeStatsRead]
    least_online: list[DeviceUptimeRead]


class QualityStatsRead(_Read):
    """Readings and their data quality flags (数据质量) over the hours counted.

    - `hours`: hours counted (sector-hours over several sectors); ingest counts each sector's
      completed UTC hour once, 10 minutes after it ends, with the readings it had stored by
      their timestamp; a reading stored after that is not counted.
    - `readings`, `flagged` (at least one flag), `flagged_share` = flagged / readings (null
      without readings); `by_flag`: readings with each flag (`out_of_range`, `late`, `stuck`,
      `spike`): a reading may have several, so these may add up to more than `flagged`.
    """

    hours: int
    readings: int
    flagged: int
    flagged_share: float | None
    by_flag: dict[str, int]


class DeviceQualityRead(_Read):
    device_id: str
    name: str | None
    sector_id: str
    scenario_id: str
    town_id: str | None
    readings: int
    flagged: int
    flagged_share: float | None
    by_flag: dict[str, int]


class QualitySummary(_Read):
    """The hours starting in the month: `overall`, `by_sector` (every sector of the report,
    then any other seen) and `most_flagged`, the 10 devices with the most flagged readings,
    summed over the hours that listed them (ingest lists each hour's most flagged devices of a
    sector, up to 500)."""

    overall: QualityStatsRead
    by_sector: dict[str, QualityStatsRead]
    most_flagged: list[DeviceQualityRead]


class DevicesSummary(_Read):
    """Devices: their online rate, and their readings' data quality flags."""

    online: OnlineSummary
    quality: QualitySummary


class MonthlyReportRead(_Read):
    """One calendar month in the district's time zone. Alarms count by `raised_at`, work
    orders by `created_at`, notifications by when they went out, shifts by when they start;
    cleared / closed / delivered / checked in are read as of `as_of` = min(window_end,
    generated_at). `work_orders`: per stage, timeliness and time to complete, the overdue and
    false-alarm shares, and the same by unit, sector and town (definitions in
    `WorkOrderSummary`). `alarms.unreached`: raised before `as_of` with no notification at all (the
    first 50 ids in `unreached_ids`). `duty`: one entry per duty center with a shift
    overlapping the month (a sector's report: its own center `sector-<sector_id>` only), the
    minutes of [window_start, as_of) no published shift covered, and its rosters, on time when
    first published no later than their period's start. `response`: reach rate,
    acknowledgement rate and time to acknowledge (p50 / p90) of the month's alarms, overall, by
    level and by duty center (definitions in `ResponseSummary` and `ResponseStatsRead`); unlike
    `alarms.unreached` (no notification made at all), an alarm counts as reached only once a
    notification was delivered to a person or acknowledged. `devices`: the time-weighted
    online rate by sector, scenario and town with the least online devices, and the readings'
    quality flags by sector with the most flagged devices (definitions in `DevicesSummary`)."""

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
    devices: DevicesSummary


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
    """A work order as reporting knows it: `status` is its newest event's; `*_at` of a status,
    the first time it became that status, but `closed_at`: when it last became closed, null
    unless it is closed now; `*_due_at`, each stage's limit."""

    work_order_id: str
    alarm_id: str
    origin: str
    rule_id: str | None
    level: Level
    status: WorkOrderStatus
    sector_id: str
    scenario_id: str
    town_id: str | None
    device_id: str | None
    tier: str
    unit_id: str | None
    assignee: str | None
    false_alarm: bool
    created_at: datetime
    due_at: datetime
    accept_due_at: datetime | None
    on_site_due_at: datetime | None
    clear_due_at: datetime | None
    feedback_due_at: datetime | None
    close_due_at: datetime | None
    stage: str | None
    stage_due_at: datetime | None
    dispatched_at: datetime | None
    accepted_at: datetime | None
    on_site_at: datetime | None
    cleared_at: datetime | None
    feedback_at: datetime | None
    reviewed_at: datetime | None
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
