"""Pure reading of telemetry messages: topic and payload to readings items.

The device is the topic's (`rw/v1/<device_id>/telemetry`, which the broker's ACL lets only
that device publish to), never the payload's. A payload is one reading
`{"metric", "value", "ts"}` or a JSON array of them; each item then goes through the same
per-item validation as the HTTP path (readings/domain.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from riskwatch.ingest.readings.domain import Reason, Rejection

TOPIC_PREFIX = "rw/v1/"
TELEMETRY = "telemetry"
# The filter ingest subscribes to (behind $share/<group>/).
TELEMETRY_FILTER = f"{TOPIC_PREFIX}+/{TELEMETRY}"


def telemetry_topic(device_id: str) -> str:
    return f"{TOPIC_PREFIX}{device_id}/{TELEMETRY}"


def shared_filter(group: str) -> str:
    return f"$share/{group}/{TELEMETRY_FILTER}"


def device_of(topic: str) -> str | None:
    """The device of a telemetry topic, or None for any other topic."""
    parts = topic.split("/")
    if len(parts) != 4 or f"{parts[0]}/{parts[1]}/" != TOPIC_PREFIX or parts[3] != TELEMETRY:
        return None
    return parts[2] or None


@dataclass(frozen=True, slots=True)
class Unparseable:
    """A message with nothing to take: not JSON, not an object or array, empty, too many."""

    reason: str


@dataclass(frozen=True, slots=True)
class Parsed:
    """The message's items, each with the topic's device, and those refused before validation
    (an item that names a device itself). Indexes are the item's place in the message."""

    items: list[tuple[int, Any]]
    refused: list[Rejection]


def parse_message(topic: str, payload: bytes, *, max_items: int) -> Parsed | Unparseable:
    device_id = device_of(topic)
    if device_id is None:
        return Unparseable("not a telemetry topic")
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return Unparseable("not JSON")
    if isinstance(body, Mapping):
        body = [body]
    if not isinstance(body, list):
        return Unparseable("neither a reading (JSON object) nor a list of readings")
    if not body:
        return Unparseable("an empty list")
    if len(body) > max_items:
        return Unparseable(f"{len(body)} readings; at most {max_items} per message")
    items: list[tuple[int, Any]] = []
    refused: list[Rejection] = []
    for index, item in enumerate(body):
        if isinstance(item, Mapping) and "device_id" in item:
            refused.append(
                Rejection(
                    index,
                    Reason.INVALID_ITEM,
                    "device_id comes from the topic; leave it out of the reading",
                )
            )
        elif isinstance(item, Mapping):
            items.append((index, {**item, "device_id": device_id}))
        else:  # validation rejects it with its reason, like the HTTP path does
            items.append((index, item))
    return Parsed(items, refused)
