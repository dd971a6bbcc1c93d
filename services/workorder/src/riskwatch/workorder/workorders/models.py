"""Tables of work orders and their history. One work order per alarm: a unique alarm_id."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from riskwatch.common.events.base import Level
from riskwatch.common.events.workorders import WorkOrderSnapshot
from riskwatch.workorder.models import SCHEMA, Base
from riskwatch.workorder.workorders.domain import Status

ACTOR_LENGTH = 255


class WorkOrder(Base):
    __tablename__ = "work_order"

    work_order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    alarm_id: Mapped[str] = mapped_column(String(64), unique=True)
    rule_id: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    sector_id: Mapped[str] = mapped_column(String(48))
    scenario_id: Mapped[str] = mapped_column(String(48))
    town_id: Mapped[str | None] = mapped_column(String(48))
    village_id: Mapped[str | None] = mapped_column(String(64))
    device_id: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    due_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    accepted_by: Mapped[str | None] = mapped_column(String(ACTOR_LENGTH))
    disposed_at: Mapped[datetime | None]
    disposed_by: Mapped[str | None] = mapped_column(String(ACTOR_LENGTH))
    disposal_note: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[str | None] = mapped_column(String(ACTOR_LENGTH))
    feedback: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]

    __table_args__ = (
        CheckConstraint("status IN ('open', 'accepted', 'disposed', 'closed')", name="status"),
        CheckConstraint("level IN ('blue', 'yellow', 'orange', 'red')", name="level"),
        # The list is newest first by (created_at, work_order_id), optionally filtered.
        Index("ix_work_order_created_at", "created_at", "work_order_id"),
        Index("ix_work_order_status_level", "status", "level"),
        Index("ix_work_order_town_id", "town_id"),
        Index("ix_work_order_sector_created_at", "sector_id", "created_at"),
    )

    @property
    def current_status(self) -> Status:
        return cast("Status", self.status)  # the ck_work_order_status constraint holds it

    def snapshot(self) -> WorkOrderSnapshot:
        return WorkOrderSnapshot(
            work_order_id=self.work_order_id,
            alarm_id=self.alarm_id,
            level=Level(self.level),
            status=self.current_status,
            sector_id=self.sector_id,
            scenario_id=self.scenario_id,
            town_id=self.town_id,
            device_id=self.device_id,
            created_at=self.created_at,
            due_at=self.due_at,
        )


class WorkOrderEvent(Base):
    """One row per thing that happened to a work order: created, escalated, accepted..."""

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
