"""The reporting schema: its declarative base and processed-event table.

No outbox yet: reporting emits nothing until report runs publish on `rw.reports`; the revision
that adds the first producer adds the table and its relay together.
"""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from riskwatch.common.db import TYPE_ANNOTATION_MAP, service_metadata
from riskwatch.common.inbox import Inbox
from riskwatch.common.principals import Principals

SCHEMA = "reporting"


class Base(DeclarativeBase):
    metadata = service_metadata(SCHEMA)
    type_annotation_map = TYPE_ANNOTATION_MAP


inbox = Inbox(Base.metadata)
# The accounts that tokens are checked against (ADR 0015).
principals = Principals(Base.metadata)
