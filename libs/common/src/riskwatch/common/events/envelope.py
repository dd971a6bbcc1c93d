"""The CloudEvents 1.0 envelope and its Kafka binary-mode binding.

Attributes travel as `ce_*` headers (plus `content-type` and `traceparent`), the payload as
JSON in the record value. The in-process bus uses the very same bytes, so both buses exercise
one codec and a contract change shows up in embedded mode too.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, TypeVar

from pydantic import ValidationError

from riskwatch.common.events.base import EventPayload, payload_class
from riskwatch.common.tracing import child_traceparent

P = TypeVar("P", bound=EventPayload, covariant=True)  # an Envelope[Sub] is an Envelope[Base]
E = TypeVar("E", bound=EventPayload)

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"
Headers = Sequence[tuple[str, bytes]]
_SPECVERSION = SPECVERSION.encode()
_CONTENT_TYPE = CONTENT_TYPE.encode()


class PoisonMessage(Exception):
    """A record that can never be processed as it is: it goes to the dead-letter topic."""


@dataclass(frozen=True, slots=True)
class Envelope(Generic[P]):
    data: P
    source: str
    subject: str | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    traceparent: str | None = None

    specversion = SPECVERSION
    datacontenttype = CONTENT_TYPE

    @property
    def type(self) -> str:
        return self.data.event_type


def new_event(
    data: E, *, source: str, subject: str | None = None, traceparent: str | None = None
) -> Envelope[E]:
    """A new event; its traceparent is a child of the given one or of the current context."""
    return Envelope(
        data=data, source=source, subject=subject, traceparent=child_traceparent(traceparent)
    )


def encode(envelope: Envelope[EventPayload]) -> tuple[list[tuple[str, bytes]], bytes]:
    headers = ce_headers(
        event_id=envelope.id,
        source=envelope.source,
        type_=envelope.type,
        time=envelope.time,
        subject=envelope.subject,
        traceparent=envelope.traceparent,
    )
    return headers, envelope.data.model_dump_json().encode()


def ce_headers(
    *,
    event_id: str,
    source: str,
    type_: str,
    time: datetime,
    subject: str | None = None,
    traceparent: str | None = None,
) -> list[tuple[str, bytes]]:
    """The binary-mode headers of one event; for producers that encode the value themselves."""
    headers = [
        ("ce_specversion", _SPECVERSION),
        ("ce_id", event_id.encode()),
        ("ce_source", source.encode()),
        ("ce_type", type_.encode()),
        ("ce_time", time.isoformat().encode()),
        ("content-type", _CONTENT_TYPE),
    ]
    if subject is not None:
        headers.append(("ce_subject", subject.encode()))
    if traceparent is not None:
        headers.append(("traceparent", traceparent.encode()))
    return headers


def decode(headers: Headers, value: bytes | None) -> Envelope[EventPayload]:
    """Parse a record; anything that cannot become a known, valid event is a PoisonMessage."""
    try:
        attrs = {k: v.decode() for k, v in headers}
    except UnicodeDecodeError as exc:
        raise PoisonMessage("headers are not UTF-8") from exc
    if attrs.get("ce_specversion") != SPECVERSION:
        raise PoisonMessage(f"unsupported or missing ce_specversion: {attrs.get('ce_specversion')}")
    missing = [k for k in ("ce_id", "ce_source", "ce_type", "ce_time") if not attrs.get(k)]
    if missing:
        raise PoisonMessage(f"missing CloudEvents attributes: {', '.join(missing)}")
    cls = payload_class(attrs["ce_type"])
    if cls is None:
        raise PoisonMessage(f"unknown event type {attrs['ce_type']}")
    if value is None:
        raise PoisonMessage("record has no value")
    try:
        data = cls.model_validate_json(value)
        time = datetime.fromisoformat(attrs["ce_time"])
    except (ValidationError, ValueError) as exc:
        raise PoisonMessage(f"invalid {attrs['ce_type']} payload: {_short(exc)}") from exc
    if time.tzinfo is None:
        raise PoisonMessage("ce_time has no time zone")
    return Envelope(
        data=data,
        source=attrs["ce_source"],
        subject=attrs.get("ce_subject"),
        id=attrs["ce_id"],
        time=time,
        traceparent=attrs.get("traceparent"),
    )


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first.get("loc", ()))
        return f"{exc.error_count()} error(s), first at {loc or '<root>'}: {first.get('msg')}"
    return str(exc)[:200]
