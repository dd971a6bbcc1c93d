"""The command manual's versions: immutable once saved; a draft becomes approved by review."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from riskwatch.workorder.models import Base

ACTOR_LENGTH = 255


class ManualVersion(Base):
    __tablename__ = "command_manual"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    entries: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    created_by: Mapped[str] = mapped_column(String(ACTOR_LENGTH))
    created_at: Mapped[datetime]
    reviewed_by: Mapped[str | None] = mapped_column(String(ACTOR_LENGTH))
    reviewed_at: Mapped[datetime | None]
    review_note: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint("status IN ('draft', 'approved', 'superseded')", name="status"),
    )
