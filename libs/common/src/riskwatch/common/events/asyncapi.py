"""The AsyncAPI 3.0 document of every topic, key and payload, generated from the code.

`python -m riskwatch.common.events.asyncapi > docs/asyncapi.yaml`; a test fails when the
committed document and the code disagree.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import yaml

from riskwatch.common import events as _events  # noqa: F401 - registers every payload
from riskwatch.common.events.base import EventPayload, event_types
from riskwatch.common.events.inbound import ATTRIBUTE_MAX_LENGTH


@dataclass(frozen=True)
class Channel:
    id: str
    address: str
    key: str
    description: str
    types: tuple[str, ...]
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    # The consumers' group, `{service}` standing for each consumer's name.
    group: str = "{service}"
    # CloudEvents structured mode (the whole event is the JSON value), not binary mode.
    structured: bool = False


CHANNELS = (
    Channel(
        "readings",
        "rw.{sector}.readings",
        "none; the producer places each record on partition murmur2(device_id) of the topic",
        "Readings ingest accepted, packed one record per partition per request: every device "
        "of the request on that partition, each with its readings in timestamp order.",
        ("rw.readings.accepted.v2",),
        ("ingest",),
        ("alerting",),
        group="{service}.<sector>",
    ),
    Channel(
        "inbound",
        "rw.{sector}.inbound",
        "any; the sector system's choice (a device id keeps its readings in order)",
        "Readings a sector system reports, as CloudEvents in structured mode (binary mode is "
        "taken too), each event at most RW_MAX_BATCH_ITEMS readings of the HTTP batch's shape. "
        "Ingest takes them as it takes the HTTP batch (per-item checks, data quality flags, "
        "sector budgets, deduplication, publication on rw.{sector}.readings) and commits the "
        "offset after that; an event whose source and id it took before is not taken again. A "
        "record that is not such an event goes to rw.dlq.ingest-inbound.{sector} with the "
        "reason in its `rw_dlq_reason` header; a refused reading is published on "
        "rw.{sector}.inbound.rejections.",
        ("rw.readings.reported.v1",),
        ("sectorSystem",),
        ("ingest",),
        group="{service}-inbound.<sector>",
        structured=True,
    ),
    Channel(
        "inboundRejections",
        "rw.{sector}.inbound.rejections",
        "the `source` of the event that carried the reading",
        "The readings of rw.{sector}.inbound that ingest refused, one record each, with the "
        "event's id, the reading's index and the reason.",
        ("rw.reading.rejected.v1",),
        ("ingest",),
        ("sectorSystem",),
        group="chosen by the sector system",
    ),
    Channel(
        "deviceStatus",
        "rw.{sector}.device-status",
        "device_id",
        "A device went online, offline or faulty.",
        ("rw.device.status_changed.v1",),
        ("ingest",),
        ("alerting", "reporting"),
    ),
    Channel(
        "readingQuality",
        "rw.reading-quality",
        "sector_id",
        "Per sector and completed hour (UTC), the readings ingest stored and how many carried "
        "each quality flag, with the most flagged devices; counted once from the raw store.",
        ("rw.readings.quality_counted.v1",),
        ("ingest",),
        ("reporting",),
    ),
    Channel(
        "alarms",
        "rw.alarms",
        "alarm_id",
        "Alarms raised, escalated and cleared; each event carries the alarm's snapshot.",
        ("rw.alarm.raised.v1", "rw.alarm.updated.v1", "rw.alarm.cleared.v1"),
        ("alerting",),
        ("workorder", "notify", "reporting"),
    ),
    Channel(
        "workorders",
        "rw.workorders",
        "alarm_id",
        "Work orders opened, moved through the closed loop (dispatch, accept, on site, clear, "
        "feedback, review, close; return, transfer, tier escalation, supervision), reminded "
        "before a stage's limit, overdue at it; the weekly overdue bulletin (key `bulletin`). "
        "An order made by hand is keyed by its own id.",
        (
            "rw.workorder.created.v1",
            "rw.workorder.state_changed.v1",
            "rw.workorder.deadline_approaching.v1",
            "rw.workorder.overdue.v1",
            "rw.workorder.bulletin_published.v1",
        ),
        ("workorder",),
        ("alerting", "notify", "reporting"),
    ),
    Channel(
        "notifications",
        "rw.notifications",
        "alarm_id",
        "Notification attempts to people on duty and their outcome.",
        (
            "rw.notification.dispatched.v1",
            "rw.notification.delivered.v1",
            "rw.notification.failed.v1",
            "rw.notification.acknowledged.v1",
        ),
        ("notify",),
        ("reporting",),
    ),
    Channel(
        "duty",
        "rw.duty",
        "duty_center_id",
        "Duty rosters published, check-ins at shift start, and duty centers as they are after "
        "each change (members, leader).",
        ("rw.duty.roster_published.v1", "rw.duty.checked_in.v1", "rw.duty.center_changed.v1"),
        ("notify",),
        ("reporting", "workorder"),
    ),
    Channel(
        "audit",
        "rw.audit",
        "actor",
        "Audit records: every write, login, logout, failure, lockout, permission denial and "
        "read of the trail, stored hash-chained and append-only by the trail's one owner.",
        ("rw.audit.recorded.v1",),
        ("ingest", "alerting", "workorder", "notify", "identity"),
        ("audit",),
    ),
    Channel(
        "accounts",
        "rw.identity.accounts",
        "username",
        "An account's state as services check tokens against it: roles, org scope, disabled, "
        "session epoch; staged in every account write's transaction and once at the issuer's "
        "start for an account whose last snapshot is not on the topic. Never a password, phone "
        "or name. Log-compacted: the latest snapshot of every account stays.",
        ("rw.identity.account_changed.v1",),
        ("identity",),
        ("ingest", "alerting", "workorder", "notify", "reporting"),
        group="{service}.accounts",
    ),
)

CLOUDEVENTS_HEADERS = {
    "type": "object",
    "description": "CloudEvents 1.0 Kafka binary mode: attributes in headers, data in the value.",
    "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "content-type"],
    "properties": {
        "ce_specversion": {"type": "string", "const": "1.0"},
        "ce_id": {"type": "string", "description": "Event id; consumers deduplicate on it."},
        "ce_source": {"type": "string", "examples": ["/riskwatch/alerting"]},
        "ce_type": {"type": "string", "examples": ["rw.alarm.raised.v1"]},
        "ce_time": {"type": "string", "format": "date-time"},
        "ce_subject": {"type": "string", "description": "Usually equal to the record key."},
        "content-type": {"type": "string", "const": "application/json"},
        "traceparent": {"type": "string", "description": "W3C trace context."},
    },
}


def _structured_event(type_name: str, data_schema: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": "CloudEvents 1.0 Kafka structured mode: the whole event is the record's "
        "JSON value (content-type application/cloudevents+json). Binary mode is taken too: "
        "the attributes in ce_* headers, `data` as the value.",
        "required": ["specversion", "id", "source", "type", "data"],
        "properties": {
            "specversion": {"type": "string", "const": "1.0"},
            "id": {
                "type": "string",
                "minLength": 1,
                "maxLength": ATTRIBUTE_MAX_LENGTH,
                "description": "Unique per source: an event whose source and id were taken "
                "before is not taken again.",
            },
            "source": {
                "type": "string",
                "minLength": 1,
                "maxLength": ATTRIBUTE_MAX_LENGTH,
                "description": "The sector system; the key of its rejections.",
                "examples": ["/sectors/construction/scada-1"],
            },
            "type": {"type": "string", "const": type_name},
            "time": {"type": "string", "format": "date-time"},
            "subject": {"type": "string"},
            "datacontenttype": {"type": "string", "const": "application/json"},
            "traceparent": {"type": "string", "description": "W3C trace context."},
            "data": {"$ref": f"#/components/schemas/{data_schema}"},
        },
    }


def _message_name(type_name: str) -> str:
    return type_name.removeprefix("rw.").replace(".", "_")


def build() -> dict[str, Any]:
    registry: dict[str, type[EventPayload]] = event_types()
    documented = {t for c in CHANNELS for t in c.types}
    missing = sorted(t for t in registry if not t.startswith("rw.test.") and t not in documented)
    if missing:
        raise ValueError(f"event types without a channel in the AsyncAPI document: {missing}")
    structured = {t for c in CHANNELS if c.structured for t in c.types}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for type_name in sorted(documented):
        cls = registry[type_name]
        schema = cls.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[cls.__name__] = schema
        if type_name in structured:
            event = f"{cls.__name__}CloudEvent"
            schemas[event] = _structured_event(type_name, cls.__name__)
            messages[_message_name(type_name)] = {
                "name": cls.__name__,
                "title": type_name,
                "contentType": "application/cloudevents+json",
                "payload": {"$ref": f"#/components/schemas/{event}"},
            }
            continue
        messages[_message_name(type_name)] = {
            "name": cls.__name__,
            "title": type_name,
            "contentType": "application/json",
            "headers": {"$ref": "#/components/schemas/CloudEventsHeaders"},
            "payload": {"$ref": f"#/components/schemas/{cls.__name__}"},
        }
    schemas["CloudEventsHeaders"] = CLOUDEVENTS_HEADERS
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for c in CHANNELS:
        channel: dict[str, Any] = {
            "address": c.address,
            "description": f"{c.description} Key: `{c.key}`.",
            "messages": {
                _message_name(t): {"$ref": f"#/components/messages/{_message_name(t)}"}
                for t in c.types
            },
            "bindings": {"kafka": {"bindingVersion": "0.5.0"}},
        }
        if "{sector}" in c.address:
            channel["parameters"] = {
                "sector": {"description": "A sector id from the catalog, e.g. construction."}
            }
        channels[c.id] = channel
        for service in c.producers:
            operations[f"{service}Sends_{c.id}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{c.id}"},
                "summary": f"{service} publishes to {c.address}",
            }
        for service in c.consumers:
            operations[f"{service}Receives_{c.id}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{c.id}"},
                "summary": f"{service} consumes {c.address} (consumer group "
                f"{c.group.format(service=service)})",
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "RiskWatch events",
            "version": "1.0.0",
            "description": (
                "Every topic of the RiskWatch platform. Records use the CloudEvents 1.0 Kafka "
                "binary mode, except those sector systems write (structured mode). A record "
                "that cannot be processed goes to `rw.dlq.<consumer group>` with `rw_dlq_*` "
                "headers saying why."
            ),
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def render() -> str:
    return yaml.safe_dump(build(), sort_keys=False, allow_unicode=True, width=100)


if __name__ == "__main__":
    sys.stdout.write(render())
