"""Table of registered devices."""

from __future__ import annotations

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from riskwatch.common.db import TimestampMixin
from riskwatch.ingest.models import Base


class Device(TimestampMixin, Base):
    __tablename__ = "device"

    device_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    sector_id: Mapped[str] = mapped_column(String(48))
    scenario_id: Mapped[str] = mapped_column(String(48))
    town_id: Mapped[str | None] = mapped_column(String(48))
    village_id: Mapped[str | None] = mapped_column(String(64))
    site: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="active")

    __table_args__ = (Index("ix_device_scenario_id", "scenario_id"),)
