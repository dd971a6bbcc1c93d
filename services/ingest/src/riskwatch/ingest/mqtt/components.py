"""The MQTT components of an ingest process, chosen by its settings (ADR 0020).

- `managed_broker` (the embedded mode): our own Mosquitto with the credential sync
  (`ManagedMqtt`), and the subscriber once it listens; without the binary, a log line saying
  how to get it, and no MQTT.
- otherwise: the subscriber on `host:port` (it needs `password`), and the credential sync when
  `broker_dir` is a directory shared with the broker.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import tempfile
from pathlib import Path

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common.app import Named, Runtime
from riskwatch.common.background import BackgroundTask
from riskwatch.common.retry import is_transient
from riskwatch.ingest.mqtt.broker import (
    INSTALL_HINT,
    BrokerExited,
    BrokerFiles,
    ManagedBroker,
    find_mosquitto,
)
from riskwatch.ingest.mqtt.passwords import SALT_BYTES, hash_password, new_password
from riskwatch.ingest.mqtt.settings import MqttSettings
from riskwatch.ingest.mqtt.subscriber import TelemetrySubscriber
from riskwatch.ingest.mqtt.sync import BrokerSync, signal_pid_file
from riskwatch.ingest.readings.deps import readings_path
from riskwatch.ingest.readings.router import READING_MAX_BYTES
from riskwatch.ingest.settings import IngestSettings

log = structlog.get_logger(__name__)


def service_hash(password: str) -> str:
    """The password file's line for ingest's own account. The salt comes from the password, so
    every replica that writes the file writes the same bytes (the password is a random secret:
    a salt against precomputed tables adds nothing to it)."""
    salt = hashlib.sha256(b"riskwatch-mqtt-service:" + password.encode()).digest()[:SALT_BYTES]
    return hash_password(password, salt=salt)


class ManagedMqtt(BackgroundTask):
    """Our own broker: the files from the registry, then mosquitto, then a sync every
    `interval_s`; a broker that exits is a crash (supervised: started again)."""

    def __init__(
        self,
        broker: ManagedBroker,
        *,
        sessions: async_sessionmaker[AsyncSession],
        service_username: str,
        service_password: str,
        interval_s: float = 1.0,
    ) -> None:
        super().__init__("mqtt-broker")
        self.broker = broker
        self.ready = asyncio.Event()

        async def reload() -> None:
            if broker.alive:
                await broker.reload()

        self.sync = BrokerSync(
            sessions=sessions,
            files=BrokerFiles(broker.directory, service_username=service_username),
            service_hash=service_hash(service_password),
            reload=reload,
            interval_s=interval_s,
        )
        self._interval = interval_s

    async def _run(self) -> None:
        await self.sync.sync_once()  # the files before the broker reads them
        if not self.broker.alive:
            await self.broker.start()
        self.ready.set()
        while True:
            self._wake.clear()
            if not self.broker.alive:
                self.ready.clear()
                raise BrokerExited(f"mosquitto exited: {' | '.join(self.broker.log_tail[-3:])}")
            try:
                await self.sync.sync_once()
            except Exception as exc:
                if not is_transient(exc):
                    raise
                log.warning("mqtt_broker_sync_waiting", error=type(exc).__name__)
            if await self._sleep(self._interval):
                return

    async def _closed(self) -> None:
        self.ready.clear()
        await self.broker.stop()


def port_free(host: str, port: int) -> bool:
    """Whether nothing listens on host:port now (a bind that succeeds, released at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def mqtt_components(runtime: Runtime, settings: IngestSettings, mqtt: MqttSettings) -> list[Named]:
    if not mqtt.enabled:
        return []
    path = readings_path(runtime, settings)
    if mqtt.managed_broker:
        binary = find_mosquitto()
        if binary is None:
            log.warning("mqtt_unavailable", hint=INSTALL_HINT)
            return []
        if not port_free(mqtt.host, mqtt.port):
            # Another broker (or another RiskWatch) has it: run without, rather than crash-loop.
            log.warning(
                "mqtt_port_in_use",
                port=mqtt.port,
                hint="another process listens there; set RW_MQTT__PORT, or RW_MQTT__ENABLED=false",
            )
            return []
        directory = mqtt.broker_dir or Path(tempfile.mkdtemp(prefix="riskwatch-mqtt-"))
        password = mqtt.password.get_secret_value() if mqtt.password else new_password()
        managed = ManagedMqtt(
            ManagedBroker(
                binary,
                directory,
                host=mqtt.host,
                port=mqtt.port,
                max_message_bytes=settings.max_batch_items * READING_MAX_BYTES,
            ),
            sessions=runtime.sessions,
            service_username=mqtt.username,
            service_password=password,
            interval_s=mqtt.sync_interval_s,
        )
        subscriber = TelemetrySubscriber(
            mqtt, password=password, path=path, ready=managed.ready.wait
        )
        return [
            Named("worker", managed.name, managed),
            Named("consumer", subscriber.name, subscriber),
        ]
    found: list[Named] = []
    if mqtt.password is None:
        log.warning("mqtt_subscriber_off", hint="RW_MQTT__PASSWORD is unset")
        return found
    password = mqtt.password.get_secret_value()
    if mqtt.broker_dir is not None:
        sync = BrokerSync(
            sessions=runtime.sessions,
            files=BrokerFiles(mqtt.broker_dir, service_username=mqtt.username),
            service_hash=service_hash(password),
            reload=signal_pid_file(mqtt.broker_pid_file) if mqtt.broker_pid_file else None,
            interval_s=mqtt.sync_interval_s,
        )
        found.append(Named("worker", sync.name, sync))
    subscriber = TelemetrySubscriber(mqtt, password=password, path=path)
    found.append(Named("consumer", subscriber.name, subscriber))
    return found
