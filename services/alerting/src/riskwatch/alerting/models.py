"""The alerting schema: its declarative base, outbox and processed-event tables."""

from __future__ import annotations

from riskwatch.common.db import service_base
from riskwatch.common.inbox import Inbox
from riskwatch.common.outbox import Outbox

SCHEMA = "alerting"
Base = service_base(SCHEMA)
outbox = Outbox(Base.metadata)
inbox = Inbox(Base.metadata)
