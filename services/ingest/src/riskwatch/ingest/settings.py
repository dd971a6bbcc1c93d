"""Settings of the ingest service."""

from __future__ import annotations

from pydantic import Field, PositiveInt

from riskwatch.common.settings import ServiceSettings
from riskwatch.ingest.inbound.settings import InboundSettings
from riskwatch.ingest.liveness.settings import LivenessSettings
from riskwatch.ingest.mqtt.settings import MqttSettings
from riskwatch.ingest.readings.settings import ReadingsSettings


class IngestSettings(ServiceSettings):
    service_name: str = "ingest"
    port: int = 8001
    # Largest batch one POST may carry; bigger requests get 413 and should be split.
    max_batch_items: int = 5000
    # A reading stamped further ahead than this is rejected: a clock that wrong is a fault.
    future_tolerance_s: float = 300.0
    # Devices whose registration the readings path keeps in memory (about 0.4 KiB each with a
    # short name, measured with tracemalloc).
    device_cache_size: int = 100_000
    # Readings per second each sector may send through this process (JSON object, sector id to
    # rate); a sector not named has no budget. See readings/admission.py.
    sector_readings_per_s: dict[str, PositiveInt] = Field(default_factory=dict)
    # Readings requests handled at once in this process (each at most max_batch_items); one
    # more gets 429 at once rather than queueing until its client gives up.
    max_concurrent_batches: PositiveInt = 64
    # How long a request may wait for the bus to take its records: shorter than a gateway's
    # timeout, so it gets a 503 (and nothing stored) instead of a dropped connection.
    publish_timeout_s: float = Field(default=5.0, gt=0)
    # MQTT inbound (ADR 0020): RW_MQTT__PASSWORD enables the subscriber against a broker run
    # separately; the embedded mode runs its own broker.
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    # Kafka inbound (ADR 0022): sector systems' CloudEvents on rw.<sector>.inbound.
    inbound: InboundSettings = Field(default_factory=InboundSettings)
    # Liveness (issue 11): how often the watcher looks for silent devices.
    liveness: LivenessSettings = Field(default_factory=LivenessSettings)
    # The raw store and the readings' quality flags (issue 11): RW_READINGS__RETENTION_DAYS...
    readings: ReadingsSettings = Field(default_factory=ReadingsSettings)
