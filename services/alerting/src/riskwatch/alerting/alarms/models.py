"""Table of alarms. At most one active alarm per (device, rule): a partial unique index."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Index, Integer, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from riskwatch.alerting.alarms.domain import AlarmState
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
    village_id: Mapped[str | None] = mapped_column(String(64))
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
    # AlarmKind: technical alarms (a device offline) are no safety alarm (see liveness.py).
    kind: Mapped[str] = mapped_column(String(16), default="safety", server_default="safety")

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
        Index("ix_alarm_town_id", "town_id"),
        Index("ix_alarm_village_id", "village_id"),
    )

    def snapshot(self) -> AlarmSnapshot:
        snap = self.state().snapshot()
        changes: dict[str, object] = {} if self.status == "active" else {"status": "cleared"}
        if self.kind != "safety":
            changes["kind"] = self.kind
        return snap.model_copy(update=changes) if changes else snap

    def state(self) -> AlarmState:
        """The active alarm as the domain sees it."""
        return AlarmState(
            alarm_id=self.alarm_id,
            rule_id=self.rule_id,
            rule_version=self.rule_version,
            device=DeviceRef.model_validate(self.device),
            metric=self.metric,
            level=Level(self.level),
            value=self.value,
            threshold=self.threshold,
            observed_at=self.observed_at,
            received_at=self.received_at,
            raised_at=self.raised_at,
            last_value=self.last_value,
            last_observed_at=self.last_observed_at,
            breach_count=self.breach_count,
            updated_at=self.updated_at,
        )

    @classmethod
    def raised(cls, state: AlarmState) -> Alarm:
        alarm = cls(
            alarm_id=state.alarm_id,
            rule_id=state.rule_id,
            device_id=state.device.device_id,
            device=state.device.model_dump(mode="json"),
            sector_id=state.device.sector_id,
            scenario_id=state.device.scenario_id,
            town_id=state.device.town_id,
            village_id=state.device.village_id,
            metric=state.metric,
            status="active",
        )
        alarm.save(state)
        return alarm

    def save(self, state: AlarmState) -> None:
        """Write what a transition may change."""
        self.rule_version = state.rule_version
        self.level = state.level.value
        self.value = state.value
        self.threshold = state.threshold
        self.observed_at = state.observed_at
        self.received_at = state.received_at
        self.raised_at = state.raised_at
        self.last_value = state.last_value
        self.last_observed_at = state.last_observed_at
        self.breach_count = state.breach_count
        self.updated_at = state.updated_at
