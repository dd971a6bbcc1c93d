"""Tables of duty centers, people and shifts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from riskwatch.common.db import TimestampMixin
from riskwatch.notify.duty.domain import CenterKind, DutyCenterRef, ShiftSpan
from riskwatch.notify.models import Base


class DutyCenter(TimestampMixin, Base):
    __tablename__ = "duty_center"

    duty_center_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    sector_id: Mapped[str | None] = mapped_column(String(48))
    town_id: Mapped[str | None] = mapped_column(String(48))

    __table_args__ = (
        CheckConstraint("kind IN ('district', 'sector', 'street')", name="kind"),
        Index("ix_duty_center_sector_id", "sector_id"),
        Index("ix_duty_center_town_id", "town_id"),
    )

    def ref(self) -> DutyCenterRef:
        return DutyCenterRef(
            self.duty_center_id, CenterKind(self.kind), self.sector_id, self.town_id
        )


class Person(TimestampMixin, Base):
    __tablename__ = "person"

    person_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(32))
    duty_center_id: Mapped[str] = mapped_column(ForeignKey("duty_center.duty_center_id"))

    __table_args__ = (Index("ix_person_duty_center_id", "duty_center_id"),)


class Shift(Base):
    __tablename__ = "shift"

    shift_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    duty_center_id: Mapped[str] = mapped_column(ForeignKey("duty_center.duty_center_id"))
    person_id: Mapped[str] = mapped_column(ForeignKey("person.person_id"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]

    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        # "On duty at t" per center: ends_at > t cuts off the history (which only grows),
        # starts_at <= t the few future shifts.
        Index("ix_shift_on_duty", "duty_center_id", "ends_at", "starts_at"),
        Index("ix_shift_person_id", "person_id"),
    )

    def span(self) -> ShiftSpan:
        return ShiftSpan(
            self.shift_id, self.duty_center_id, self.person_id, self.starts_at, self.ends_at
        )
