"""Table of message templates edited over the API; a key, channel and locale without a row
uses the built-in text (templates.domain.DEFAULTS)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from riskwatch.notify.models import Base


class MessageTemplate(Base):
    __tablename__ = "message_template"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)  # alarm, digest, roster, ...
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    locale: Mapped[str] = mapped_column(String(8), primary_key=True)  # zh-CN, en
    body: Mapped[str] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(String(200))  # e-mail only
    # The provider's id of the approved template (Chinese SMS platforms and voice gateways send
    # only pre-approved templates, filled with parameters).
    provider_template_id: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(64))
