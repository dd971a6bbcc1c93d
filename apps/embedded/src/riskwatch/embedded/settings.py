"""Settings of the embedded platform: the shared RW_* settings plus what only it needs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from riskwatch.common.settings import ServiceSettings
from riskwatch.ingest.mqtt.settings import MqttSettings


class EmbeddedSettings(ServiceSettings):
    service_name: str = "riskwatch"
    port: int = 8000
    bus: Literal["kafka", "memory"] = "memory"  # embedded mode is the in-process bus
    # The terminal shows the live feed; logs are for problems unless RW_LOG_LEVEL says more.
    log_level: str = "WARNING"
    # The demo simulator posts readings to this process; `make run` turns it on.
    simulate: bool = False
    # Print the live feed of alarms, work orders and notifications on stdout.
    feed: bool = True
    # MQTT inbound (ADR 0020): the embedded mode runs its own Mosquitto on 127.0.0.1:1883 when
    # the binary is there (RW_MQTT__PORT, RW_MQTT__ENABLED=false to run without).
    mqtt: MqttSettings = Field(default_factory=lambda: MqttSettings(managed_broker=True))

    @field_validator("mqtt", mode="before")
    @classmethod
    def _managed_unless_said(cls, value: object) -> object:
        """RW_MQTT__PORT alone must not turn the embedded broker off: fields from the
        environment replace the default factory's model, so its own default comes back here."""
        if isinstance(value, dict) and "managed_broker" not in value:
            return {**value, "managed_broker": True}
        return value
