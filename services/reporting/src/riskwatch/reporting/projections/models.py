"""Projection tables: what reporting knows of other services' alarms, work orders,
notifications and duty, and of ingest's devices (status changes, hourly quality counts). Rows
of one alarm are joined by `alarm_id`, never by foreign key: they arrive on different topics in
any order."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Index, Integer, SmallInteger, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from riskwatch.reporting.models import Base


class AlarmView(Base):
    __tablename__ = "alarm_view"

    alarm_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(64))
    rule_version: Mapped[int] = mapped_column(Integer)
    device_id: Mapped[str] = mapped_column(String(128))
    sector_id: Mapped[str] = mapped_column(String(48))
    scenario_id: Mapped[str] = mapped_column(String(48))
    town_id: Mapped[str | None] = mapped_column(String(48))
    metric: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(8))  # the highest level seen
    status: Mapped[str] = mapped_column(String(16))  # active | cleared; cleared wins
    raised_at: Mapped[datetime]
    received_at: Mapped[datetime]  # ingest's receipt of the reading that raised it
    cleared_at: Mapped[datetime | None]
    cleared_reason: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime]  # the newest event time applied

    __table_args__ = (Index("ix_alarm_view_raised_at", "raised_at"),)


class WorkOrderView(Base):
    """A work order as its newest event left it (see projections.domain), with the first time
    it reached each step of the loop. Its stage deadlines are the manual's, set at creation."""

    __tablename__ = "work_order_view"

    work_order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    alarm_id: Mapped[str] = mapped_column(String(64))  # a hand-made order: its own id
    origin: Mapped[str] = mapped_column(String(8))  # alarm | patrol | public
    rule_id: Mapped[str | None] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(8))
    # The newest event's (by its own time, ties by `snapshot_rank`): not forward-only, an order
    # may be returned, reopened and dispatched again.
    status: Mapped[str] = mapped_column(String(16))
    sector_id: Mapped[str] = mapped_column(String(48))
    scenario_id: Mapped[str] = mapped_column(String(48))
    town_id: Mapped[str | None] = mapped_column(String(48))
    device_id: Mapped[str | None] = mapped_column(String(128))
    tier: Mapped[str] = mapped_column(String(8))  # small | medium | big
    unit_id: Mapped[str | None] = mapped_column(String(64))  # the responsible duty center
    assignee: Mapped[str | None] = mapped_column(String(64))
    false_alarm: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]
    due_at: Mapped[datetime]  # the close limit
    # Each stage's limit, counted from creation; null on rows projected before they existed
    # (but close_due_at, which is due_at).
    accept_due_at: Mapped[datetime | None]
    on_site_due_at: Mapped[datetime | None]
    clear_due_at: Mapped[datetime | None]
    feedback_due_at: Mapped[datetime | None]
    close_due_at: Mapped[datetime | None]
    stage: Mapped[str | None] = mapped_column(String(16))  # whose limit runs now; null closed
    stage_due_at: Mapped[datetime | None]  # its limit, or the later one a supervision gave
    # The first time the order became each status (its earliest WorkOrderStateChanged to it).
    dispatched_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]
    on_site_at: Mapped[datetime | None]
    cleared_at: Mapped[datetime | None]
    feedback_at: Mapped[datetime | None]
    reviewed_at: Mapped[datetime | None]
    # When it last became closed, while it is closed; null when reopened and not closed again.
    closed_at: Mapped[datetime | None]
    overdue_at: Mapped[datetime | None]  # the first WorkOrderOverdue, of any stage
    updated_at: Mapped[datetime]  # the newest event time applied
    # Which of the events at `updated_at` the status and snapshot come from (domain.snapshot_rank).
    snapshot_rank: Mapped[int] = mapped_column(SmallInteger)

    __table_args__ = (
        Index("ix_work_order_view_created_at", "created_at"),
        Index("ix_work_order_view_alarm_id", "alarm_id"),
    )


class NotificationView(Base):
    __tablename__ = "notification_view"

    notification_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    alarm_id: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(8))
    duty_center_id: Mapped[str] = mapped_column(String(64))
    person_id: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer)  # the highest attempt seen
    # acknowledged | delivered | failed (gave up) | retrying | dispatched: see projections.domain
    status: Mapped[str] = mapped_column(String(16))
    # When it went out: the first attempt's dispatched_at once known, until then the earliest
    # outcome seen, so one whose Delivered overtook its Dispatched still lands in its month.
    sent_at: Mapped[datetime]
    dispatched_at: Mapped[datetime | None]  # of the first attempt
    delivered_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]  # first failure, retried or not
    gave_up_at: Mapped[datetime | None]  # the failure after which notify stopped trying
    acknowledged_at: Mapped[datetime | None]
    # How the earliest acknowledgement came: api | sms | voice (the contract's AckVia).
    acknowledged_via: Mapped[str | None] = mapped_column(String(8))
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_notification_view_sent_at", "sent_at"),
        Index("ix_notification_view_alarm_id", "alarm_id"),
    )


class RosterView(Base):
    """A roster as its highest version published so far; its shifts are in `duty_shift_view`."""

    __tablename__ = "roster_view"

    roster_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    duty_center_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)  # the highest version applied
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    shift_count: Mapped[int] = mapped_column(Integer)
    published_at: Mapped[datetime]  # of the version applied
    # The earliest publication of any version seen: "published on time" is judged on it.
    first_published_at: Mapped[datetime]

    __table_args__ = (Index("ix_roster_view_published_at", "published_at"),)


class DutyShiftView(Base):
    """One shift of one person: from its roster, and whether that person checked in.

    A check-in may arrive before its roster; the roster's columns stay empty until it does. A
    newer version of its roster that no longer lists the shift deletes the row.
    """

    __tablename__ = "duty_shift_view"

    shift_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    duty_center_id: Mapped[str] = mapped_column(String(64))
    person_id: Mapped[str] = mapped_column(String(64))
    roster_id: Mapped[str | None] = mapped_column(String(64))
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    published_at: Mapped[datetime | None]
    # The first check-in: when, by whom, whether notify judged it late, and through what.
    checked_in_at: Mapped[datetime | None]
    checked_in_by: Mapped[str | None] = mapped_column(String(64))
    checked_in_late: Mapped[bool | None]
    checked_in_via: Mapped[str | None] = mapped_column(String(8))  # api | sms

    __table_args__ = (
        Index("ix_duty_shift_view_starts_at", "starts_at"),
        Index("ix_duty_shift_view_roster_id", "roster_id"),
    )


class DeviceView(Base):
    """A device as its newest status change described it (its name for the report's lists,
    and the set of devices whose status history the online rate reads)."""

    __tablename__ = "device_view"

    device_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    sector_id: Mapped[str] = mapped_column(String(48))
    scenario_id: Mapped[str] = mapped_column(String(48))
    town_id: Mapped[str | None] = mapped_column(String(48))
    updated_at: Mapped[datetime]  # the newest changed_at applied


class DeviceStatusChangeView(Base):
    """One DeviceStatusChanged, kept once by its event id: the status periods are rebuilt from
    these in time order when a report reads them (reports.devices.status_periods), so the
    order events arrive in cannot matter. The place is the device's at the change."""

    __tablename__ = "device_status_change_view"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    device_id: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(8))  # online | offline | fault
    previous_status: Mapped[str | None] = mapped_column(String(8))
    changed_at: Mapped[datetime]
    sector_id: Mapped[str] = mapped_column(String(48))
    scenario_id: Mapped[str] = mapped_column(String(48))
    town_id: Mapped[str | None] = mapped_column(String(48))

    __table_args__ = (
        Index("ix_device_status_change_view_device_changed", "device_id", "changed_at"),
    )


class ReadingQualityView(Base):
    """One sector's readings of one hour and their quality flags (a ReadingQualityCounted);
    the first event of a sector and hour is kept."""

    __tablename__ = "reading_quality_view"

    sector_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    hour_start: Mapped[datetime] = mapped_column(primary_key=True)
    hour_end: Mapped[datetime]
    counted_at: Mapped[datetime]
    readings: Mapped[int] = mapped_column(BigInteger)
    flagged: Mapped[int] = mapped_column(BigInteger)
    by_flag: Mapped[dict[str, int]] = mapped_column(JSONB)  # flag name -> readings
    devices_flagged: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_reading_quality_view_hour_start", "hour_start"),)


class ReadingQualityDeviceView(Base):
    """A device listed in a sector's hour: it had flagged readings."""

    __tablename__ = "reading_quality_device_view"

    sector_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    hour_start: Mapped[datetime] = mapped_column(primary_key=True)
    device_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    scenario_id: Mapped[str] = mapped_column(String(48))
    town_id: Mapped[str | None] = mapped_column(String(48))
    readings: Mapped[int] = mapped_column(BigInteger)
    flagged: Mapped[int] = mapped_column(BigInteger)
    by_flag: Mapped[dict[str, int]] = mapped_column(JSONB)

    __table_args__ = (Index("ix_reading_quality_device_view_hour_start", "hour_start"),)
