"""Tables of the device registry: devices and the profiles that say what they measure."""

from __future__ import annotations

from typing import Any

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from riskwatch.common.db import TimestampMixin
from riskwatch.ingest.models import SCHEMA, Base


class DeviceProfile(TimestampMixin, Base):
    """What a kind of device measures: per metric its unit, physical range, precision and
    expected reporting interval (schemas.MetricSpec), checked when the profile is written."""

    __tablename__ = "device_profile"

    profile_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    metrics: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    # A device goes offline after this many expected intervals without a reading (liveness).
    offline_after_intervals: Mapped[int] = mapped_column(Integer, default=3)


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
    profile_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey(f"{SCHEMA}.device_profile.profile_id", ondelete="RESTRICT")
    )
    # WGS 84, degrees; both or neither.
    lon: Mapped[float | None] = mapped_column(Float)
    lat: Mapped[float | None] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(String(300))
    # The duty center answerable for the device (notify's id: no foreign key across services).
    owner_unit: Mapped[str | None] = mapped_column(String(64))
    # The gateway it reports through: a free id (a DTU or sector system need not be a device).
    gateway_id: Mapped[str | None] = mapped_column(String(128))

    __table_args__ = (
        Index("ix_device_scenario_id", "scenario_id"),
        Index("ix_device_profile_id", "profile_id"),
        Index("ix_device_gateway_id", "gateway_id"),
        CheckConstraint("(lon IS NULL) = (lat IS NULL)", name="location_pair"),
        CheckConstraint("lon BETWEEN -180 AND 180 AND lat BETWEEN -90 AND 90", name="wgs84"),
    )
