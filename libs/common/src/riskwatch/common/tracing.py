"""W3C trace context: carry one trace id from an HTTP request through every event it causes.

Only `traceparent` is handled (version 00); it is enough to follow one alarm across services in
the logs. A full OpenTelemetry SDK can replace this later without changing the envelope.
"""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar
from dataclasses import dataclass

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")

current_traceparent: ContextVar[str | None] = ContextVar("current_traceparent", default=None)


@dataclass(frozen=True, slots=True)
class TraceContext:
    trace_id: str
    span_id: str
    flags: str = "01"

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"

    def child(self) -> TraceContext:
        """A new span in the same trace, for work caused by this one."""
        return TraceContext(self.trace_id, secrets.token_hex(8), self.flags)


def new_trace() -> TraceContext:
    return TraceContext(secrets.token_hex(16), secrets.token_hex(8))


def parse_traceparent(value: str | None) -> TraceContext | None:
    if not value:
        return None
    match = _TRACEPARENT.match(value.strip().lower())
    if match is None:
        return None
    trace_id, span_id, flags = match.groups()
    if trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    return TraceContext(trace_id, span_id, flags)


def child_traceparent(parent: str | None = None) -> str:
    """The traceparent for a new event: a child of `parent` (or of the current context)."""
    ctx = parse_traceparent(parent if parent is not None else current_traceparent.get())
    return (ctx.child() if ctx else new_trace()).traceparent


def trace_id_of(traceparent: str | None) -> str | None:
    ctx = parse_traceparent(traceparent)
    return ctx.trace_id if ctx else None
