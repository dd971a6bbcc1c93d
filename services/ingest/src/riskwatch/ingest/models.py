"""The ingest schema: its declarative base and the tables every service schema has.

The outbox carries the audit records of the registry's writes; readings are published in the
request (ADR 0004), not through it."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from riskwatch.common.db import TYPE_ANNOTATION_MAP, service_metadata
from riskwatch.common.generation import Generations
from riskwatch.common.inbox import Inbox
from riskwatch.common.outbox import Outbox
from riskwatch.common.principals import Principals

SCHEMA = "ingest"


class Base(DeclarativeBase):
    metadata = service_metadata(SCHEMA)
    type_annotation_map = TYPE_ANNOTATION_MAP


generations = Generations(Base.metadata)
outbox = Outbox(Base.metadata)
inbox = Inbox(Base.metadata)
# The accounts that tokens are checked against (ADR 0015).
principals = Principals(Base.metadata)
