"""Topic `rw.audit`, key the actor: one record of the audit trail (seed 004: who did what,
when, from where, with what outcome).

Every service produces them (writes through its outbox, in the transaction of the write;
refusals and failures when they happen); one owner stores them, hash-chained and append-only
(`riskwatch.common.audit`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from riskwatch.common.events.base import EventPayload, Timestamp, event_type

AuditOutcome = Literal["success", "failure", "denied"]


@event_type("rw.audit.recorded.v1")
class AuditRecorded(EventPayload):
    at: Timestamp
    actor: str = Field(max_length=64)  # the account; "anonymous" before authentication
    roles: list[str] = Field(default_factory=list)
    scope: str | None = None
    source_address: str | None = Field(default=None, max_length=64)
    service: str = Field(max_length=64)
    # A verb on a resource kind: "rules.put", "auth.login", "audit.read", "access.denied"...
    action: str = Field(max_length=64)
    resource: str | None = Field(default=None, max_length=255)  # "rules/gas-pressure-high"
    outcome: AuditOutcome
    status: int | None = None  # the HTTP status answered, when there was a request
    reason: str | None = Field(default=None, max_length=255)
    # SHA-256 (hex) of the resource before and after the change: proof of what changed
    # without copying personal or business data into a trail kept for months.
    before_digest: str | None = Field(default=None, max_length=64)
    after_digest: str | None = Field(default=None, max_length=64)
    request_id: str | None = Field(default=None, max_length=128)
    trace_id: str | None = Field(default=None, max_length=32)
