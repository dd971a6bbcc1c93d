"""Tables of duty: centers and their members, rosters and shifts, check-ins, swaps, handovers,
duty alerts, and the versioned routing."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from riskwatch.common.db import TimestampMixin
from riskwatch.notify.duty.domain import CenterKind, DutyCenterRef, ShiftSpan
from riskwatch.notify.models import Base


class DutyCenter(TimestampMixin, Base):
    __tablename__ = "duty_center"

    duty_center_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    # What it covers: a sector center its sector, a street center its town.
    sector_id: Mapped[str | None] = mapped_column(String(48))
    town_id: Mapped[str | None] = mapped_column(String(48))
    leader_id: Mapped[str | None] = mapped_column(String(64))  # a member
    fallback_id: Mapped[str | None] = mapped_column(String(64))  # None: default for its kind
    # The center's group robot, "wecom:<url>" or "dingtalk:<url>" (its key is in the URL).
    robot_url: Mapped[str | None] = mapped_column(String(500))

    __table_args__ = (
        CheckConstraint("kind IN ('district', 'sector', 'street')", name="kind"),
        Index("ix_duty_center_sector_id", "sector_id"),
        Index("ix_duty_center_town_id", "town_id"),
    )

    def ref(self) -> DutyCenterRef:
        return DutyCenterRef(
            self.duty_center_id,
            CenterKind(self.kind),
            self.sector_id,
            self.town_id,
            self.fallback_id,
        )


class Person(TimestampMixin, Base):
    """How to reach someone on duty; `person_id` is their account's username."""

    __tablename__ = "person"

    person_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(254))
    locale: Mapped[str] = mapped_column(String(8), server_default=text("'zh-CN'"))

    __table_args__ = (Index("ix_person_phone", "phone"),)


class DutyMember(Base):
    __tablename__ = "duty_member"

    duty_center_id: Mapped[str] = mapped_column(
        ForeignKey("duty_center.duty_center_id"), primary_key=True
    )
    person_id: Mapped[str] = mapped_column(ForeignKey("person.person_id"), primary_key=True)
    added_at: Mapped[datetime]

    __table_args__ = (Index("ix_duty_member_person_id", "person_id"),)


class Roster(Base):
    """A center's shifts over a period of whole local days, laid out from `spec` (templates,
    rotation, overrides). Drafted, then published; publishing again after a swap or a change
    raises `version`."""

    __tablename__ = "roster"

    roster_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    duty_center_id: Mapped[str] = mapped_column(ForeignKey("duty_center.duty_center_id"))
    first_day: Mapped[date]
    days: Mapped[int] = mapped_column(Integer)
    period_start: Mapped[datetime]  # local midnight of first_day, as UTC
    period_end: Mapped[datetime]
    spec: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer, default=0)
    allow_gaps: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    published_at: Mapped[datetime | None]
    first_published_at: Mapped[datetime | None]
    published_by: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        CheckConstraint("status IN ('draft', 'published')", name="status"),
        CheckConstraint("days BETWEEN 1 AND 62", name="days"),
        Index("ix_roster_center_period", "duty_center_id", "period_start"),
    )


class Shift(Base):
    """One person on duty at one center from `starts_at` to `ends_at`. Shifts of a draft roster
    are not on duty; those of a published one are."""

    __tablename__ = "shift"

    shift_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    roster_id: Mapped[str] = mapped_column(ForeignKey("roster.roster_id"))
    duty_center_id: Mapped[str] = mapped_column(ForeignKey("duty_center.duty_center_id"))
    person_id: Mapped[str] = mapped_column(ForeignKey("person.person_id"))
    template: Mapped[str] = mapped_column(String(32))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    published: Mapped[bool] = mapped_column(default=False)
    checked_in_at: Mapped[datetime | None]
    checked_in_via: Mapped[str | None] = mapped_column(String(8))
    checked_in_late: Mapped[bool | None]

    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        # "On duty at t" per center: ends_at > t cuts off the history (which only grows),
        # starts_at <= t the few future shifts.
        Index(
            "ix_shift_on_duty",
            "duty_center_id",
            "ends_at",
            "starts_at",
            postgresql_where=text("published"),
        ),
        Index("ix_shift_person_id", "person_id", "ends_at"),
        Index("ix_shift_roster_id", "roster_id"),
    )

    def span(self) -> ShiftSpan:
        return ShiftSpan(
            self.shift_id, self.duty_center_id, self.person_id, self.starts_at, self.ends_at
        )


class SwapRequest(Base):
    """Someone asks for their shift to go to another member (换班); the leader decides."""

    __tablename__ = "swap_request"

    swap_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    shift_id: Mapped[str] = mapped_column(ForeignKey("shift.shift_id"))
    duty_center_id: Mapped[str] = mapped_column(String(64))
    from_person_id: Mapped[str] = mapped_column(String(64))
    to_person_id: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime]
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint("status IN ('requested', 'approved', 'rejected')", name="status"),
        Index("ix_swap_request_center", "duty_center_id", "requested_at"),
    )


class DutyAlert(Base):
    """Something about duty that someone must see: a missed check-in, a center with nobody on
    duty when an alarm came, an alarm that reached nobody. Open until resolved."""

    __tablename__ = "duty_alert"

    alert_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    duty_center_id: Mapped[str | None] = mapped_column(String(64))
    # What makes it unique: the shift missed, the center unstaffed, the alarm unreached.
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    shift_id: Mapped[str | None] = mapped_column(String(128))
    alarm_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(String(500))
    raised_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint(
            "kind IN ('missed_check_in', 'nobody_on_duty', 'unreached_alarm')", name="kind"
        ),
        Index(
            "ix_duty_alert_open",
            "kind",
            "duty_center_id",
            postgresql_where=text("resolved_at IS NULL"),
        ),
        Index("ix_duty_alert_raised_at", "raised_at", "alert_id"),
    )


class Handover(Base):
    """交接班: the outgoing person's note, the center's open alarms and work orders at that
    moment, and the incoming person's acknowledgement."""

    __tablename__ = "handover"

    handover_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    duty_center_id: Mapped[str] = mapped_column(ForeignKey("duty_center.duty_center_id"))
    from_person_id: Mapped[str] = mapped_column(String(64))
    to_person_id: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text)
    open_alarms: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    open_work_orders: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    written_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (Index("ix_handover_center", "duty_center_id", "written_at"),)


class RoutingPolicy(Base):
    """One version of the routing rules; the highest version applies. Never updated: a change
    is a new version, so "why did this alarm go there" can be answered later."""

    __tablename__ = "routing_policy"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    note: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class OpenItem(Base):
    """Open alarms and work orders as notify sees them on their topics: what a handover
    attaches. An alarm leaves when it clears, a work order when it closes."""

    __tablename__ = "open_item"

    item_kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # alarm, work_order
    item_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    alarm_id: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(24))
    sector_id: Mapped[str] = mapped_column(String(48))
    town_id: Mapped[str | None] = mapped_column(String(48))
    device_id: Mapped[str | None] = mapped_column(String(128))  # None: an order made by hand
    # A work order's responsible unit (a duty center id), as its latest event says.
    unit_id: Mapped[str | None] = mapped_column(String(64))
    opened_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_open_item_sector", "sector_id"),
        Index("ix_open_item_town", "town_id"),
        Index("ix_open_item_unit", "unit_id"),
    )
