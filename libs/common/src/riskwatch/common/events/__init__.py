"""Event contracts: the envelope, the topic names and one payload module per topic.

Importing this package registers every payload type, so `decode()` knows them all.
"""

from riskwatch.common.events import (
    alarms,
    audit,
    device_status,
    duty,
    identity,
    inbound,
    notifications,
    reading_quality,
    readings,
    workorders,
)
from riskwatch.common.events.base import (
    EventPayload,
    Level,
    event_types,
    payload_class,
)
from riskwatch.common.events.envelope import (
    Envelope,
    PoisonMessage,
    decode,
    encode,
    new_event,
)

__all__ = [
    "Envelope",
    "EventPayload",
    "Level",
    "PoisonMessage",
    "alarms",
    "audit",
    "decode",
    "device_status",
    "duty",
    "encode",
    "event_types",
    "identity",
    "inbound",
    "new_event",
    "notifications",
    "payload_class",
    "reading_quality",
    "readings",
    "workorders",
]
