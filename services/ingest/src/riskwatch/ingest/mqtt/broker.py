"""Mosquitto's files made from the registry, and a Mosquitto process of our own.

`BrokerFiles` writes the password file (the service account and every active device with
credentials, as Mosquitto's hashes) and the ACL file, each atomically (a temporary file renamed
over the old one), so a broker reloading at any moment reads a whole file. The ACL's one
pattern confines every device to its own topics; ingest's account may only read telemetry.

`ManagedBroker` runs `mosquitto -c <dir>/mosquitto.conf` (the embedded mode and the tests),
listening on one address only, and reloads it with SIGHUP, confirmed by its log.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import shutil
import signal
import tempfile
from collections.abc import Sequence
from pathlib import Path

import structlog

from riskwatch.ingest.mqtt.domain import TELEMETRY_FILTER, TOPIC_PREFIX

log = structlog.get_logger(__name__)

PASSWORD_FILE = "passwd"  # noqa: S105 (a file name)
ACL_FILE = "acl"
CONFIG_FILE = "mosquitto.conf"
# How to get the broker where it is missing (the embedded mode says so and runs without MQTT).
INSTALL_HINT = (
    "MQTT is off: no mosquitto binary on PATH or in /usr/sbin. Install Eclipse Mosquitto 2.x "
    "(scripts/fetch-mosquitto, or `apt-get install mosquitto`) and start again."
)


def find_mosquitto() -> str | None:
    """The broker's binary: on PATH, or where Debian puts it (/usr/sbin, often not on PATH)."""
    found = shutil.which("mosquitto")
    if found is not None:
        return found
    candidate = Path("/usr/sbin/mosquitto")
    return str(candidate) if os.access(candidate, os.X_OK) else None


def render_passwords(accounts: Sequence[tuple[str, str]]) -> str:
    return "".join(f"{username}:{password_hash}\n" for username, password_hash in accounts)


def render_acl(service_username: str) -> str:
    return (
        "# Written by RiskWatch ingest from its device registry (ADR 0020); edits are lost.\n"
        f"user {service_username}\n"
        f"topic read {TELEMETRY_FILTER}\n"
        "\n"
        "# Every device (its username is its id) may publish under its own topics only.\n"
        f"pattern write {TOPIC_PREFIX}%u/#\n"
    )


def render_config(directory: Path, *, host: str, port: int, max_message_bytes: int) -> str:
    # `user`: run as whoever started us, so the broker reads the 0600 files written here
    # (as root, Mosquitto would otherwise switch to the `mosquitto` user).
    return "\n".join(
        [
            "per_listener_settings false",
            "allow_anonymous false",
            f"listener {port} {host}",
            f"password_file {directory / PASSWORD_FILE}",
            f"acl_file {directory / ACL_FILE}",
            "persistence true",
            f"persistence_location {directory}/",
            f"user {getpass.getuser()}",
            f"max_packet_size {max_message_bytes + 1024}",  # the payload and its topic
            # A replica's session (its unacknowledged messages) waits a day for it to return.
            "persistent_client_expiration 1d",
            "max_queued_messages 100000",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "",
        ]
    )


def write_atomically(path: Path, content: str) -> bool:
    """Replace `path` with `content` (mode 0600) unless it holds it already; True if written."""
    with contextlib.suppress(FileNotFoundError):
        if path.read_text() == content:
            return False
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return True


class BrokerFiles:
    def __init__(self, directory: Path, *, service_username: str) -> None:
        self.directory = directory
        self.service_username = service_username

    @property
    def password_file(self) -> Path:
        return self.directory / PASSWORD_FILE

    @property
    def acl_file(self) -> Path:
        return self.directory / ACL_FILE

    def write(self, *, service_hash: str, devices: Sequence[tuple[str, str]]) -> bool:
        """Write both files; True when either changed (the broker needs a reload)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        accounts = [(self.service_username, service_hash), *devices]
        changed = write_atomically(self.password_file, render_passwords(accounts))
        return write_atomically(self.acl_file, render_acl(self.service_username)) or changed


class BrokerExited(RuntimeError):
    pass


class ManagedBroker:
    """One mosquitto process on `host:port` with its files in `directory`."""

    def __init__(
        self,
        binary: str,
        directory: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 1883,
        max_message_bytes: int = 1024 * 1024,
    ) -> None:
        self.binary = binary
        self.directory = directory
        self.host = host
        self.port = port
        self.max_message_bytes = max_message_bytes
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._running = asyncio.Event()
        self._reloads = 0
        self._reloaded = asyncio.Condition()
        self.log_tail: list[str] = []

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self, *, timeout_s: float = 20.0) -> None:
        """Start it (its password and ACL files must exist) and wait until it listens."""
        config = self.directory / CONFIG_FILE
        write_atomically(
            config,
            render_config(
                self.directory,
                host=self.host,
                port=self.port,
                max_message_bytes=self.max_message_bytes,
            ),
        )
        self._running.clear()
        self._process = await asyncio.create_subprocess_exec(
            self.binary,
            "-c",
            str(config),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # Ctrl-C in a terminal reaches us, and we stop it
        )
        self._reader = asyncio.create_task(self._read_log(self._process))
        running = asyncio.create_task(self._running.wait())
        try:
            await asyncio.wait(
                {running, self._reader}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            running.cancel()
        if not self._running.is_set():
            await self.stop()
            raise BrokerExited(
                f"mosquitto did not start on {self.host}:{self.port}: "
                + " | ".join(self.log_tail[-5:])
            )
        log.info("mqtt_broker_started", host=self.host, port=self.port, pid=self.pid)

    async def reload(self, *, timeout_s: float = 10.0) -> None:
        """SIGHUP (password and ACL files read again), returning once the broker has begun the
        reload: it reloads in its one event-loop turn, so a connect after this sees the files."""
        if self._process is None or self._process.returncode is not None:
            raise BrokerExited("mosquitto is not running")
        async with self._reloaded:
            before = self._reloads
            self._process.send_signal(signal.SIGHUP)
            await asyncio.wait_for(
                self._reloaded.wait_for(lambda: self._reloads > before), timeout_s
            )

    async def stop(self, timeout_s: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.terminate()  # mosquitto saves its persistence file on SIGTERM
            try:
                await asyncio.wait_for(process.wait(), timeout_s)
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None

    async def wait_exited(self) -> int:
        if self._process is None:
            return 0
        return await self._process.wait()

    async def _read_log(self, process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None  # noqa: S101 (stderr=PIPE above)
        while line := await process.stderr.readline():
            text = line.decode(errors="replace").rstrip()
            self.log_tail = [*self.log_tail[-49:], text]
            if " running" in text and "mosquitto version" in text:
                self._running.set()
            elif "Reloading config" in text:
                async with self._reloaded:
                    self._reloads += 1
                    self._reloaded.notify_all()
            log.debug("mosquitto", line=text)
