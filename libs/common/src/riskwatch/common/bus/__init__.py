"""The event bus: one interface, a Kafka transport and an in-process one."""

from __future__ import annotations

from riskwatch.common.bus.base import (
    BatchHandler,
    Bus,
    ConsumerClient,
    Delivery,
    Message,
    Position,
    Record,
    TopicSpec,
    partition_for,
    record_for,
)
from riskwatch.common.bus.consumer import EventConsumer, subscribe
from riskwatch.common.bus.memory import MemoryBus
from riskwatch.common.settings import ServiceSettings


def create_bus(settings: ServiceSettings) -> Bus:
    if settings.bus == "memory":
        return MemoryBus(default_partitions=settings.kafka.default_partitions)
    from riskwatch.common.bus.kafka import KafkaBus

    return KafkaBus(settings.kafka, client_id=f"rw-{settings.service_name}")


__all__ = [
    "BatchHandler",
    "Bus",
    "ConsumerClient",
    "Delivery",
    "EventConsumer",
    "MemoryBus",
    "Message",
    "Position",
    "Record",
    "TopicSpec",
    "create_bus",
    "partition_for",
    "record_for",
    "subscribe",
]
