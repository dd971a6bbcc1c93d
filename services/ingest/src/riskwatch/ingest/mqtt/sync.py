"""The broker sync: the registry's credentials into Mosquitto's files, then a reload.

Every `sync_interval_s` it reads the credentials' and devices' change counters (ADR 0009); when
either moved it reads the accounts, rewrites the files (only those whose content changed) and
reloads the broker. Any replica may run it against files it shares with the broker: the files
are a function of the registry, so two writers write the same bytes.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common.background import BackgroundTask
from riskwatch.common.retry import is_transient
from riskwatch.ingest.mqtt import service
from riskwatch.ingest.mqtt.broker import BrokerFiles

log = structlog.get_logger(__name__)

Reload = Callable[[], Awaitable[None]]


def signal_pid_file(pid_file: Path) -> Reload:
    """A reload for a broker run elsewhere on this host (or in this pod, with a shared process
    namespace): SIGHUP to the pid in its `pid_file`."""

    async def reload() -> None:
        pid = int((await asyncio.to_thread(pid_file.read_text)).strip())
        os.kill(pid, signal.SIGHUP)

    return reload


class BrokerSync(BackgroundTask):
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        files: BrokerFiles,
        service_hash: str,
        reload: Reload | None = None,  # None: the broker watches nothing; see ADR 0020
        interval_s: float = 1.0,
    ) -> None:
        super().__init__("mqtt-broker-sync")
        self._sessions = sessions
        self._files = files
        self._service_hash = service_hash
        self._reload = reload
        self._interval = interval_s
        self._seen: tuple[int, int] | None = None

    async def sync_once(self) -> bool:
        """Bring the files up to the registry; True when they changed (and the broker was
        reloaded). Safe to call at any time, also while the loop runs."""
        async with self._sessions() as session, session.begin():
            version = await service.broker_version(session)
            if version == self._seen:
                return False
            devices = await service.broker_accounts(session)
        changed = self._files.write(service_hash=self._service_hash, devices=devices)
        if changed and self._reload is not None:
            await self._reload()
        if changed:
            log.info("mqtt_broker_synced", devices=len(devices), version=version)
        self._seen = version
        return changed

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.sync_once()
            except Exception as exc:
                if not is_transient(exc):
                    raise  # supervised: logged, counted, restarted with backoff
                log.warning("mqtt_broker_sync_waiting", error=type(exc).__name__)
            if await self._sleep(self._interval):
                return
