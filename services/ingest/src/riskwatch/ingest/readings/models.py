"""The raw readings store. (device_id, metric, ts) is a reading's identity: a gateway that
resends a batch after a timeout stores and publishes nothing twice."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from riskwatch.ingest.models import Base


class RawReading(Base):
    __tablename__ = "reading"

    device_id: Mapped[str] = mapped_column(String(128))
    metric: Mapped[str] = mapped_column(String(64))
    ts: Mapped[datetime]
    value: Mapped[float] = mapped_column(Float)
    received_at: Mapped[datetime]
    batch_id: Mapped[str] = mapped_column(String(64))

    __table_args__ = (PrimaryKeyConstraint("device_id", "metric", "ts"),)
