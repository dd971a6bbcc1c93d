"""The table of evidence: one row per photo or document of a work order. The bytes live in the
evidence store under `storage_key`; the row keeps their size and SHA-256, checked on download."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, cast

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from riskwatch.workorder.models import SCHEMA, Base

Kind = Literal["photo", "document"]
FILENAME_LENGTH = 255


class WorkOrderAttachment(Base):
    __tablename__ = "work_order_attachment"

    attachment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    work_order_id: Mapped[str] = mapped_column(
        String(64), ForeignKey(f"{SCHEMA}.work_order.work_order_id")
    )
    kind: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str] = mapped_column(String(FILENAME_LENGTH))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(255), unique=True)
    uploaded_by: Mapped[str] = mapped_column(String(255))
    uploaded_at: Mapped[datetime]

    __table_args__ = (
        CheckConstraint("kind IN ('photo', 'document')", name="kind"),
        CheckConstraint("size >= 0", name="size"),
        CheckConstraint("sha256 ~ '^[0-9a-f]{64}$'", name="sha256"),
        # Listed per order, oldest first.
        Index("ix_work_order_attachment_work_order_id", "work_order_id", "uploaded_at"),
    )

    @property
    def current_kind(self) -> Kind:
        return cast("Kind", self.kind)  # the ck_work_order_attachment_kind constraint holds it
