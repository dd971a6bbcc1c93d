"""Settings of MQTT inbound: `IngestSettings.mqtt` (environment: RW_MQTT__<FIELD>)."""

from __future__ import annotations

import socket
from pathlib import Path

from pydantic import BaseModel, Field, PositiveInt, SecretStr, field_validator


def _host_client_id() -> str:
    return f"ingest-{socket.gethostname()}"[:64]


class MqttSettings(BaseModel):
    # Off: no subscriber, no broker, no credential sync (the routes still manage credentials).
    enabled: bool = True
    # Start our own Mosquitto (the embedded mode): listening on host:port, its files in
    # broker_dir. When the binary is missing the process says how to get it and runs without.
    managed_broker: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    # Where the broker's password and ACL files are written from the registry (ADR 0020): the
    # managed broker's directory, or a volume shared with a separately run broker. None: this
    # process does not write them (another does).
    broker_dir: Path | None = None
    # A separately run broker's pid file (mosquitto's `pid_file`): SIGHUP after each change.
    broker_pid_file: Path | None = None
    # How often the credential sync looks at the registry's change counters (two indexed reads).
    sync_interval_s: float = Field(default=1.0, gt=0)
    # Ingest's own account on the broker. It starts with "_", which no device id can, so no
    # device can take it; it may only read telemetry.
    username: str = "_ingest"
    # Required with a separately run broker; the managed broker makes one per start when unset.
    password: SecretStr | None = None
    # Stable per replica: the broker keeps the replica's session (its unacknowledged messages)
    # across a reconnect or restart under the same id. Default: ingest-<hostname>.
    client_id: str = Field(default_factory=_host_client_id)
    # The shared-subscription group: replicas in one group split the messages.
    share_group: str = "ingest"
    # Messages handled in one transaction, at most (those already received; never waited for).
    max_messages_per_batch: PositiveInt = 200
    # Unacknowledged messages the broker may have in flight to this replica (backpressure).
    max_inflight: PositiveInt = 200

    @field_validator("username")
    @classmethod
    def _not_a_device_id(cls, value: str) -> str:
        if not value.startswith("_") or any(c in value for c in ":+#/ "):
            raise ValueError("the MQTT service username starts with '_' and has no ':+#/ '")
        return value

    @field_validator("share_group")
    @classmethod
    def _a_plain_group(cls, value: str) -> str:
        if not value or any(c in value for c in "+#/"):
            raise ValueError("the share group is one topic level without wildcards")
        return value
