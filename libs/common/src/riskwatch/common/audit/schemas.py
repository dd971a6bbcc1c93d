"""API models of the audit trail."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from riskwatch.common.events.audit import AuditOutcome


class AuditRecordRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    at: datetime
    recorded_at: datetime
    actor: str
    roles: list[str]
    scope: str | None
    source_address: str | None
    service: str
    action: str
    resource: str | None
    outcome: AuditOutcome
    status: int | None
    reason: str | None
    before_digest: str | None
    after_digest: str | None
    request_id: str | None
    trace_id: str | None
    event_id: str
    prev_hash: str
    hash: str


class AuditPage(BaseModel):
    items: list[AuditRecordRead]
    next_cursor: str | None = None
