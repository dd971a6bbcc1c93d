"""API models of devices' MQTT credentials."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class MqttCredentialsRead(BaseModel):
    device_id: str
    username: str = Field(description="The MQTT username: the device id")
    password: str = Field(description="Shown this once: only its hash is kept")
    topic: str = Field(description="Where the device publishes its readings, at QoS 1")
    created_at: datetime
    rotated_at: datetime
