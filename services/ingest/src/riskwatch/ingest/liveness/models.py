"""Tables of liveness: the readings path's receipts of watched devices (device_seen, insert
only), each watched device's last reading and status, and its status history (what the online
rate reads)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from riskwatch.ingest.models import Base

_STATUS = "status IN ('online', 'offline')"


class DeviceSeen(Base):
    """A watched device's receipt in an accepted batch, written in the batch's transaction and
    folded into device_liveness by the watcher: insert only, so concurrent batches of the same
    devices never wait on each other's row locks."""

    __tablename__ = "device_seen"

    seen_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(128))
    seen_at: Mapped[datetime]


class DeviceLiveness(Base):
    __tablename__ = "device_liveness"

    device_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    sector_id: Mapped[str] = mapped_column(String(48))
    last_seen_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(8))
    status_since: Mapped[datetime]
    offline_after_s: Mapped[int] = mapped_column(Integer)
    # last_seen_at + offline_after_s, kept by the writer: the watcher's scan (an index on the
    # sum itself is refused, timestamptz + interval not being immutable).
    overdue_at: Mapped[datetime]

    __table_args__ = (
        CheckConstraint(_STATUS, name="status"),
        Index(
            "ix_device_liveness_online_overdue_at",
            "overdue_at",
            postgresql_where=text("status = 'online'"),
        ),
    )


class DeviceStatusPeriod(Base):
    __tablename__ = "device_status_period"

    period_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(8))
    from_at: Mapped[datetime]
    to_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint(_STATUS, name="status"),
        CheckConstraint("to_at IS NULL OR to_at >= from_at", name="ordered"),
        Index("ix_device_status_period_device_from", "device_id", "from_at"),
        Index(
            "uq_device_status_period_open",
            "device_id",
            unique=True,
            postgresql_where=text("to_at IS NULL"),
        ),
    )
