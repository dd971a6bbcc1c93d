"""Pure reading of sector systems' records: a CloudEvent to readings items, or the reason it is
none (for the dead-letter topic); and, after acceptance, the rejections of its items.

Structured mode is the contract (ADR 0022): the record's value is the whole event, a JSON
object with `specversion` "1.0", `id`, `source`, `type` rw.readings.reported.v1, optional
`time`, `subject`, `datacontenttype` (application/json) and `traceparent`, and `data`
`{"readings": [...]}`, each item of the HTTP batch's shape. Binary mode is taken too: the
attributes in `ce_*` headers, `data` as the value (how the platform's own events travel).
Items are not checked here: each goes through the readings path's own validation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson

from riskwatch.common.events.base import EventPayload
from riskwatch.common.events.envelope import Envelope, Headers, PoisonMessage
from riskwatch.common.events.inbound import (
    ATTRIBUTE_MAX_LENGTH,
    ReadingRejected,
    ReadingsReported,
)
from riskwatch.common.events.topics import inbound_rejections_topic, inbound_topic
from riskwatch.common.inputs import KEY_MAX_LENGTH, is_one_line
from riskwatch.ingest.readings.domain import Reason, Rejection

GROUP = "ingest-inbound"
T = TypeVar("T")
_NO_DATA = object()


@dataclass(frozen=True, slots=True)
class InboundChannel:
    """One sector's inbound: the topic ingest reads, its consumer group (whose dead letters go
    to rw.dlq.<group>), and the topic of the rejections."""

    sector: str
    topic: str
    group: str
    rejections: str

    @classmethod
    def of(cls, sector: str) -> InboundChannel:
        return cls(
            sector, inbound_topic(sector), f"{GROUP}.{sector}", inbound_rejections_topic(sector)
        )


def parse_record(
    headers: Headers, value: bytes | None, *, max_items: int
) -> Envelope[ReadingsReported]:
    """The readings event of a record, or PoisonMessage saying why the record is not one."""
    if any(name == "ce_specversion" for name, _ in headers):
        attributes, data = _binary(headers, value)
    else:
        attributes, data = _structured(value)
    return _event(attributes, data, max_items=max_items)


def _binary(headers: Headers, value: bytes | None) -> tuple[Mapping[str, Any], Any]:
    try:
        named = {name: raw.decode() for name, raw in headers}
    except UnicodeDecodeError as exc:
        raise PoisonMessage("headers are not UTF-8") from exc
    attributes: dict[str, Any] = {
        name.removeprefix("ce_"): text for name, text in named.items() if name.startswith("ce_")
    }
    if "content-type" in named:
        attributes["datacontenttype"] = named["content-type"]
    if "traceparent" in named:
        attributes.setdefault("traceparent", named["traceparent"])
    return attributes, _json(value, what="data")


def _structured(value: bytes | None) -> tuple[Mapping[str, Any], Any]:
    body = _json(value, what="the record")
    if not isinstance(body, dict):
        raise PoisonMessage("not a CloudEvent: the value is not a JSON object")
    if "data_base64" in body:
        raise PoisonMessage("data_base64 is not taken: data is JSON")
    return body, body.get("data", _NO_DATA)


def _json(value: bytes | None, *, what: str) -> Any:
    if not value:
        raise PoisonMessage(f"{what} is empty")
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise PoisonMessage(f"{what} is not JSON") from exc


def _event(
    attributes: Mapping[str, Any], data: Any, *, max_items: int
) -> Envelope[ReadingsReported]:
    version = attributes.get("specversion")
    if version is None:
        raise PoisonMessage("not a CloudEvent: no specversion")
    if version != "1.0":
        raise PoisonMessage(f"specversion {_shown(version)} is not 1.0")
    event_id, source, type_ = (_attribute(attributes, n) for n in ("id", "source", "type"))
    if type_ != ReadingsReported.event_type:
        raise PoisonMessage(
            f"type {_shown(type_)} is not taken here; {ReadingsReported.event_type} is"
        )
    content_type = attributes.get("datacontenttype")
    if content_type is not None and not _is_json(content_type):
        raise PoisonMessage(f"datacontenttype {_shown(content_type)} is not application/json")
    subject = attributes.get("subject")
    if subject is not None and not isinstance(subject, str):
        raise PoisonMessage("subject is not a string")
    traceparent = attributes.get("traceparent")
    readings = ReadingsReported(readings=_readings(data, max_items=max_items))
    time = _time(attributes.get("time"))
    return Envelope(
        data=readings,
        source=source,
        subject=subject,
        id=event_id,
        time=time if time is not None else datetime.now(UTC),  # optional in CloudEvents
        traceparent=traceparent if isinstance(traceparent, str) else None,
    )


def _attribute(attributes: Mapping[str, Any], name: str) -> str:
    value = attributes.get(name)
    if value is None or value == "":
        raise PoisonMessage(f"the CloudEvent has no {name}")
    if not isinstance(value, str):
        raise PoisonMessage(f"{name} is not a string")
    if len(value) > ATTRIBUTE_MAX_LENGTH:
        raise PoisonMessage(f"{name} is longer than {ATTRIBUTE_MAX_LENGTH} characters")
    if not is_one_line(value):
        raise PoisonMessage(f"{name} holds control characters")
    return value


def _is_json(content_type: Any) -> bool:
    if not isinstance(content_type, str):
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    problem = PoisonMessage("time is not an RFC 3339 timestamp with an offset")
    if not isinstance(value, str) or len(value) > 64:
        raise problem
    try:
        when = datetime.fromisoformat(value)
        if when.tzinfo is None:
            raise problem
        return when.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise problem from exc


def _readings(data: Any, *, max_items: int) -> list[Any]:
    if data is _NO_DATA:
        raise PoisonMessage("the CloudEvent has no data")
    if not isinstance(data, dict):
        raise PoisonMessage('data is not an object {"readings": [...]}')
    extra = sorted(set(data) - {"readings"})
    if extra:
        raise PoisonMessage(f"data has unknown field(s): {_shown(', '.join(extra))}")
    readings = data.get("readings")
    if not isinstance(readings, list):
        raise PoisonMessage("data.readings is not a list of readings")
    if not readings:
        raise PoisonMessage("data.readings is empty")
    if len(readings) > max_items:
        raise PoisonMessage(f"{len(readings)} readings; at most {max_items} per event")
    return readings


def _shown(value: Any) -> str:
    """A value of the record in a reason, cut short: reasons travel in a header and logs."""
    text = repr(value)
    return text if len(text) <= 64 else text[:61] + "..."


def event_key(envelope: Envelope[EventPayload]) -> str:
    """The event's id in the inbox: CloudEvents makes `source` and `id` unique together (one
    line each, so the line feed between them cannot be forged)."""
    return hashlib.sha256(f"{envelope.source}\n{envelope.id}".encode()).hexdigest()


def readings_of(envelope: Envelope[EventPayload]) -> list[Any]:
    if not isinstance(envelope.data, ReadingsReported):
        raise TypeError(f"not a readings event: {envelope.type}")
    return envelope.data.readings


def chunks(things: Sequence[T], *, size: Callable[[T], int], limit: int) -> list[list[T]]:
    """Runs of consecutive `things` of at most `limit` in size together (one larger than that
    alone), in order."""
    runs: list[list[T]] = []
    total = 0
    for thing in things:
        n = size(thing)
        if not runs or total + n > limit:
            runs.append([])
            total = 0
        runs[-1].append(thing)
        total += n
    return runs


@dataclass(frozen=True, slots=True)
class Gathered:
    """The items of several events in one list, and where each came from."""

    items: list[Any]
    origin: list[tuple[int, int]]  # (the event's place, the item's index in it) of each item


def gather(events: Sequence[Envelope[EventPayload]]) -> Gathered:
    items: list[Any] = []
    origin: list[tuple[int, int]] = []
    for number, envelope in enumerate(events):
        readings = readings_of(envelope)
        items.extend(readings)
        origin.extend((number, index) for index in range(len(readings)))
    return Gathered(items, origin)


def rejections_of(
    events: Sequence[Envelope[EventPayload]],
    gathered: Gathered,
    rejected: Sequence[Rejection],
    *,
    sector: str,
) -> list[tuple[Envelope[EventPayload], ReadingRejected]]:
    """Each rejection of the gathered items as the event it came from would name it."""
    found = []
    for rejection in rejected:
        number, index = gathered.origin[rejection.index]
        event = events[number]
        device_id = _device_id(gathered.items[rejection.index])
        detail = rejection.detail
        if rejection.reason is Reason.SECTOR_NOT_SERVED:
            detail = f"device {device_id!r} is not in sector {sector!r}, whose topic this is"
        found.append(
            (
                event,
                ReadingRejected(
                    ce_id=event.id,
                    source=event.source,
                    index=index,
                    device_id=device_id,
                    reason=rejection.reason.value,
                    detail=detail,
                ),
            )
        )
    return found


def _device_id(item: Any) -> str | None:
    if not isinstance(item, Mapping):
        return None
    device_id = item.get("device_id")
    if isinstance(device_id, str) and 0 < len(device_id) <= KEY_MAX_LENGTH:
        return device_id if is_one_line(device_id) else None
    return None
