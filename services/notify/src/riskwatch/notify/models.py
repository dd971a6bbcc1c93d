"""The notify schema: its declarative base, outbox and processed-event tables."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from riskwatch.common.db import TYPE_ANNOTATION_MAP, service_metadata
from riskwatch.common.inbox import Inbox
from riskwatch.common.outbox import Outbox
from riskwatch.common.principals import Principals

SCHEMA = "notify"


class Base(DeclarativeBase):
    metadata = service_metadata(SCHEMA)
    type_annotation_map = TYPE_ANNOTATION_MAP


outbox = Outbox(Base.metadata)
inbox = Inbox(Base.metadata)
# The accounts that tokens are checked against (ADR 0015).
principals = Principals(Base.metadata)
