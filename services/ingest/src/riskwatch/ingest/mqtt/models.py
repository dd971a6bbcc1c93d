"""Devices' MQTT credentials: the registry is their source of truth; the broker's password
file is made from these rows. Only a hash is kept (mosquitto's PBKDF2-SHA512 format)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from riskwatch.ingest.models import SCHEMA, Base


class DeviceCredential(Base):
    __tablename__ = "device_credential"

    device_id: Mapped[str] = mapped_column(
        String(128), ForeignKey(f"{SCHEMA}.device.device_id", ondelete="CASCADE"), primary_key=True
    )
    # mosquitto_passwd's format: $7$<iterations>$<salt base64>$<hash base64>
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    rotated_at: Mapped[datetime]
