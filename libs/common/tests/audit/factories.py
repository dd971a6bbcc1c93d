"""Builders for audit tests: records as producers send them, with sensible defaults."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from riskwatch.common.events.audit import AuditRecorded
from riskwatch.common.events.envelope import Envelope, new_event

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def record(**overrides: Any) -> AuditRecorded:
    values: dict[str, Any] = {
        "at": T0,
        "actor": "alice",
        "roles": ["business_admin"],
        "scope": "district",
        "source_address": "10.0.0.7",
        "service": "alerting",
        "action": "rules.put",
        "resource": "rules/gas-pressure-high",
        "outcome": "success",
        "status": 200,
        "before_digest": "a" * 64,
        "after_digest": "b" * 64,
        "request_id": "req-1",
        "trace_id": "0af7651916cd43dd8448eb211c80319c",
    }
    values.update(overrides)
    return AuditRecorded(**values)


def event(**overrides: Any) -> Envelope[AuditRecorded]:
    payload = record(**overrides)
    return new_event(payload, source=f"/riskwatch/{payload.service}", subject=payload.actor)


def events(count: int, **overrides: Any) -> list[Envelope[AuditRecorded]]:
    return [event(resource=f"rules/r-{i}", **overrides) for i in range(count)]
