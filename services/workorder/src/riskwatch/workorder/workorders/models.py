"""Tables of work orders, their history, the units' duty staff and the weekly bulletins.

One work order per alarm: a unique alarm_id (an order made by hand uses its own id there).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from riskwatch.common.events.base import Level
from riskwatch.common.events.workorders import (
    WORK_ORDER_STATUSES,
    LoopTier,
    Origin,
    Stage,
    WorkOrderSnapshot,
)
from riskwatch.workorder.models import SCHEMA, Base
from riskwatch.workorder.workorders.domain import Location, Order, Status

ACTOR_LENGTH = 255
_STATUSES = ", ".join(f"'{s}'" for s in WORK_ORDER_STATUSES)


class WorkOrder(Base):
    __tablename__ = "work_order"

    work_order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    alarm_id: Mapped[str] = mapped_column(String(64), unique=True)
    origin: Mapped[str] = mapped_column(String(8), server_default="alarm")
    rule_id: Mapped[str | None] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    sector_id: Mapped[str] = mapped_column(String(48))
    scenario_id: Mapped[str] = mapped_column(String(48))
    town_id: Mapped[str | None] = mapped_column(String(48))
    village_id: Mapped[str | None] = mapped_column(String(64))
    device_id: Mapped[str | None] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    reported_by: Mapped[str | None] = mapped_column(String(ACTOR_LENGTH))
    reported_lon: Mapped[float | None] = mapped_column(Float)
    reported_lat: Mapped[float | None] = mapped_column(Float)
    # What the command manual said when the order was made (its version and entry).
    manual_version: Mapped[int | None] = mapped_column(Integer)
    disposal_standard: Mapped[str | None] = mapped_column(Text)
    disposal_type: Mapped[str | None] = mapped_column(String(16))
    handler_role: Mapped[str | None] = mapped_column(String(64))
    required_fields: Mapped[list[str]] = mapped_column(JSONB, server_default="[]")
    photos_required: Mapped[int] = mapped_column(Integer, server_default="0")
    tier: Mapped[str] = mapped_column(String(8), server_default="small")
    unit_id: Mapped[str | None] = mapped_column(String(64))
    assignee: Mapped[str | None] = mapped_column(String(ACTOR_LENGTH))
    created_at: Mapped[datetime]
    accept_due_at: Mapped[datetime]
    on_site_due_at: Mapped[datetime]
    clear_due_at: Mapped[datetime]
    feedback_due_at: Mapped[datetime]
    due_at: Mapped[datetime]  # the close limit
    # The running stage's timer: its limit, when its clock started, what has fired, and when
    # the next timer is due (NULL: nothing to fire; the timer worker's index).
    stage_due_at: Mapped[datetime | None]
    stage_clock_from: Mapped[datetime | None]
    reminded: Mapped[bool] = mapped_column(Boolean, server_default="false")
    overdue: Mapped[bool] = mapped_column(Boolean, server_default="false")
    next_timer_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]
    accepted_by: Mapped[str | None] = mapped_column(String(ACTOR_LENGTH))
    on_site_at: Mapped[datetime | None]
    on_site_lon: Mapped[float | None] = mapped_column(Float)
    on_site_lat: Mapped[float | None] = mapped_column(Float)
    cleared_at: Mapped[datetime | None]
    clear_note: Mapped[str | None] = mapped_column(Text)
    feedback_at: Mapped[datetime | None]
    feedback: Mapped[dict[str, str]] = mapped_column(JSONB, server_default="{}")
    quality_problems: Mapped[list[str]] = mapped_column(JSONB, server_default="[]")
    reviewed_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(ACTOR_LENGTH))
    false_alarm: Mapped[bool] = mapped_column(Boolean, server_default="false")
    updated_at: Mapped[datetime]

    __table_args__ = (
        CheckConstraint(f"status IN ({_STATUSES})", name="status"),
        CheckConstraint("level IN ('blue', 'yellow', 'orange', 'red')", name="level"),
        CheckConstraint("tier IN ('small', 'medium', 'big')", name="tier"),
        CheckConstraint("origin IN ('alarm', 'patrol', 'public')", name="origin"),
        # The list is newest first by (created_at, work_order_id), optionally filtered.
        Index("ix_work_order_created_at", "created_at", "work_order_id"),
        Index("ix_work_order_status_level", "status", "level"),
        Index("ix_work_order_town_id", "town_id"),
        Index("ix_work_order_sector_created_at", "sector_id", "created_at"),
        Index("ix_work_order_unit_id", "unit_id", "created_at"),
        Index("ix_work_order_assignee", "assignee", "created_at"),
        Index(
            "ix_work_order_next_timer_at",
            "next_timer_at",
            postgresql_where=text("next_timer_at IS NOT NULL"),
        ),
    )

    @property
    def current_status(self) -> Status:
        return cast("Status", self.status)  # the ck_work_order_status constraint holds it

    @property
    def deadlines(self) -> dict[Stage, datetime]:
        return {
            "accept": self.accept_due_at,
            "on_site": self.on_site_due_at,
            "clear": self.clear_due_at,
            "feedback": self.feedback_due_at,
            "close": self.due_at,
        }

    def state(self) -> Order:
        """The order as the pure transition function sees it."""
        location = (
            Location(self.on_site_lon, self.on_site_lat)
            if self.on_site_lon is not None and self.on_site_lat is not None
            else None
        )
        return Order(
            status=self.current_status,
            level=Level(self.level),
            tier=cast("LoopTier", self.tier),
            created_at=self.created_at,
            deadlines=self.deadlines,
            unit_id=self.unit_id,
            assignee=self.assignee,
            stage_due_at=self.stage_due_at,
            stage_clock_from=self.stage_clock_from,
            reminded=self.reminded,
            overdue=self.overdue,
            accepted_at=self.accepted_at,
            on_site_at=self.on_site_at,
            on_site_location=location,
            cleared_at=self.cleared_at,
            feedback_at=self.feedback_at,
            feedback=dict(self.feedback or {}),
            reviewed_at=self.reviewed_at,
            closed_at=self.closed_at,
            false_alarm=self.false_alarm,
            quality_problems=tuple(self.quality_problems or ()),
        )

    def apply(self, order: Order, *, next_timer_at: datetime | None) -> None:
        """Write back what the transition function decided."""
        values: dict[str, Any] = {
            "status": order.status,
            "level": order.level.value,
            "tier": order.tier,
            "unit_id": order.unit_id,
            "assignee": order.assignee,
            "accept_due_at": order.deadlines["accept"],
            "on_site_due_at": order.deadlines["on_site"],
            "clear_due_at": order.deadlines["clear"],
            "feedback_due_at": order.deadlines["feedback"],
            "due_at": order.deadlines["close"],
            "stage_due_at": order.stage_due_at,
            "stage_clock_from": order.stage_clock_from,
            "reminded": order.reminded,
            "overdue": order.overdue,
            "next_timer_at": next_timer_at,
            "accepted_at": order.accepted_at,
            "on_site_at": order.on_site_at,
            "on_site_lon": order.on_site_location.lon if order.on_site_location else None,
            "on_site_lat": order.on_site_location.lat if order.on_site_location else None,
            "cleared_at": order.cleared_at,
            "feedback_at": order.feedback_at,
            "feedback": dict(order.feedback),
            "reviewed_at": order.reviewed_at,
            "closed_at": order.closed_at,
            "false_alarm": order.false_alarm,
            "quality_problems": list(order.quality_problems),
        }
        for name, value in values.items():
            if getattr(self, name) != value:
                setattr(self, name, value)

    def snapshot(self) -> WorkOrderSnapshot:
        order = self.state()
        return WorkOrderSnapshot(
            work_order_id=self.work_order_id,
            alarm_id=self.alarm_id,
            origin=cast("Origin", self.origin),
            rule_id=self.rule_id,
            level=Level(self.level),
            status=self.current_status,
            sector_id=self.sector_id,
            scenario_id=self.scenario_id,
            town_id=self.town_id,
            device_id=self.device_id,
            created_at=self.created_at,
            due_at=self.due_at,
            tier=order.tier,
            unit_id=self.unit_id,
            assignee=self.assignee,
            deadlines=self.deadlines,
            stage=order.stage,
            stage_due_at=self.stage_due_at,
            false_alarm=self.false_alarm,
        )


class WorkOrderEvent(Base):
    """One row per thing that happened to a work order: who, when, why."""

    __tablename__ = "work_order_event"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    work_order_id: Mapped[str] = mapped_column(
        String(64), ForeignKey(f"{SCHEMA}.work_order.work_order_id")
    )
    action: Mapped[str] = mapped_column(String(16))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(ACTOR_LENGTH))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime]

    __table_args__ = (Index("ix_work_order_event_work_order_id", "work_order_id", "id"),)


class UnitMember(Base):
    """Who a unit's duty staff are: the members of its duty center, as notify says
    (rw.duty DutyCenterChanged); the leader is a member with leader true."""

    __tablename__ = "unit_member"

    unit_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(ACTOR_LENGTH), primary_key=True)
    leader: Mapped[bool] = mapped_column(Boolean, server_default="false")
    changed_at: Mapped[datetime]

    __table_args__ = (Index("ix_unit_member_person_id", "person_id"),)


class UnitVersion(Base):
    """The newest DutyCenterChanged applied per unit, so an older one redelivered later never
    overwrites it."""

    __tablename__ = "unit_version"

    unit_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean)
    changed_at: Mapped[datetime]


class Bulletin(Base):
    """A weekly overdue bulletin (超时处置通报), stored as published."""

    __tablename__ = "bulletin"

    bulletin_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    week_start: Mapped[datetime] = mapped_column(unique=True)
    week_end: Mapped[datetime]
    units: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    published_at: Mapped[datetime]
    published_by: Mapped[str] = mapped_column(String(ACTOR_LENGTH))
