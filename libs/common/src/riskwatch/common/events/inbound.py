"""Topics `rw.<sector>.inbound` and `rw.<sector>.inbound.rejections`: readings that a sector
system publishes as CloudEvents, and those of them that ingest refused (ADR 0022).

The sector system's event is `ReadingsReported`, in structured mode (the whole CloudEvent is
the record's JSON value). Each of its readings has the shape of an item of the HTTP batch and
is checked on its own: ingest publishes a `ReadingRejected` for each one it refuses, keyed by
the event's `source`, and takes the others.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, WithJsonSchema

from riskwatch.common.events.base import EventPayload, event_type

# The longest `id` and `source` of a sector system's event that ingest takes: a source is the
# key of its rejections.
ATTRIBUTE_MAX_LENGTH = 255

# The schema of an item, for the document only: items are taken as they come and checked one
# by one (a bad item is rejected alone, it does not make the event unreadable).
_READING = {
    "type": "object",
    "description": "A reading, as an item of the HTTP batch (POST /api/v1/readings).",
    "required": ["device_id", "metric", "value", "ts"],
    "additionalProperties": False,
    "properties": {
        "device_id": {"type": "string", "minLength": 1, "maxLength": 128},
        "metric": {"type": "string", "minLength": 1, "maxLength": 64},
        "value": {"type": "number"},
        "ts": {"type": "string", "format": "date-time", "description": "With a UTC offset."},
    },
}


@event_type("rw.readings.reported.v1")
class ReadingsReported(EventPayload):
    """The `data` of a sector system's CloudEvent: at most RW_MAX_BATCH_ITEMS readings."""

    readings: Annotated[
        list[Any],
        WithJsonSchema(
            {
                "type": "array",
                "minItems": 1,
                "items": _READING,
                "description": "Each reading is checked on its own: a bad one is rejected "
                "(rw.reading.rejected.v1) and the others are taken.",
            }
        ),
    ] = Field(min_length=1)


@event_type("rw.reading.rejected.v1")
class ReadingRejected(EventPayload):
    """A reading of a sector system's event that ingest refused."""

    ce_id: str = Field(description="The `id` of the CloudEvent that carried the reading.")
    source: str = Field(
        description="The CloudEvent's `source` (the sector system), also the record's key."
    )
    index: int = Field(ge=0, description="The reading's place in `data.readings`, from 0.")
    device_id: str | None = Field(
        default=None, description="The reading's `device_id`, when it has one that can be an id."
    )
    reason: str = Field(
        description="invalid_item, invalid_device_id, invalid_metric, invalid_value, "
        "invalid_timestamp, timestamp_in_future, unknown_device, device_retired, "
        "sector_not_served (a device of another sector)."
    )
    detail: str
