"""Which inbound parts a process runs: one channel per sector it serves on Kafka, none when
RW_INBOUND__ENABLED is false, none on the in-process bus (nothing outside can publish there)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from riskwatch.common.app import Runtime
from riskwatch.common.bus import MemoryBus
from riskwatch.common.catalog import default_catalog
from riskwatch.common.settings import ServiceSettings
from riskwatch.ingest.inbound.components import inbound_channels, inbound_topics
from riskwatch.ingest.inbound.domain import InboundChannel
from riskwatch.ingest.settings import IngestSettings


class DurableBus:
    durable = True


def runtime(bus: Any) -> Runtime:
    return cast(
        "Runtime", SimpleNamespace(bus=bus, catalog=default_catalog(), settings=ServiceSettings())
    )


def test_a_process_on_kafka_has_a_channel_per_sector_it_serves() -> None:
    settings = IngestSettings(sectors=["construction", "energy"])
    on_kafka = runtime(DurableBus())
    assert inbound_channels(on_kafka, settings) == [
        InboundChannel.of("construction"),
        InboundChannel.of("energy"),
    ]
    assert {(t.name, t.partitions) for t in inbound_topics(on_kafka, settings)} == {
        ("rw.construction.inbound", 6),
        ("rw.construction.inbound.rejections", 3),
        ("rw.dlq.ingest-inbound.construction", 1),
        ("rw.energy.inbound", 6),
        ("rw.energy.inbound.rejections", 3),
        ("rw.dlq.ingest-inbound.energy", 1),
    }


def test_nothing_when_disabled_or_on_the_in_process_bus() -> None:
    disabled = IngestSettings(inbound={"enabled": False})  # type: ignore[arg-type]
    assert inbound_channels(runtime(DurableBus()), disabled) == []
    assert inbound_channels(runtime(MemoryBus()), IngestSettings()) == []
    assert inbound_topics(runtime(MemoryBus()), IngestSettings()) == []
