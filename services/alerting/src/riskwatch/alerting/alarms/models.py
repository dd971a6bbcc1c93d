"""Table of alarms. At most one active alarm per (device, rule): a partial unique index."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Index, Integer, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from riskwatch.alerting.models import Base
from riskwatch.common.events.alarms import AlarmSnapshot
from riskwatch.common.events.base import DeviceRef, Level


class Alarm(Base):
    __tablename__ = "alarm"

    alarm_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(64))
    rule_version: Mapped[int] = mapped_column(Integer)
    device_id: Mapped[str] = mapped_column(String(128))
    device: Mapped[dict[str, object]] = mapped_column(JSONB)
    sector_id: Mapped[str] = mapped_column(String(48))
    scenario_id: Mapped[str] = mapped_column(String(48))
    town_id: Mapped[str | None] = mapped_column(String(48))
    metric: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    value: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    observed_at: Mapped[datetime]
    received_at: Mapped[datetime]
    raised_at: Mapped[datetime]
    last_value: Mapped[float] = mapped_column(Float)
    last_observed_at: Mapped[datetime]
    breach_count: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime]
    cleared_at: Mapped[datetime | None]
    cleared_reason: Mapped[str | None] = mapped_column(String(32))
    work_order_id: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index(
            "uq_alarm_active_device_rule",
            "device_id",
            "rule_id",
            unique=True,
            postgresql_where=text("status = 'active'"),
        ),
        Index("ix_alarm_raised_at", "raised_at"),
        Index("ix_alarm_status_level", "status", "level"),
    )

    def snapshot(self) -> AlarmSnapshot:
        return AlarmSnapshot(
            alarm_id=self.alarm_id,
            rule_id=self.rule_id,
            rule_version=self.rule_version,
            device=DeviceRef.model_validate(self.device),
            metric=self.metric,
            level=Level(self.level),
            status="cleared" if self.status == "cleared" else "active",
            value=self.value,
            threshold=self.threshold,
            observed_at=self.observed_at,
            received_at=self.received_at,
            raised_at=self.raised_at,
            breach_count=self.breach_count,
        )
