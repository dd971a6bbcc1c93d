"""A real single-node Apache Kafka (KRaft) broker on 127.0.0.1, run from Maven Central jars."""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType

from riskwatch.devstack._util import (
    LOCALHOST,
    DevstackError,
    can_connect,
    free_port,
    port_is_free,
    tail,
)
from riskwatch.devstack._util import die_with_parent as _pdeathsig_preexec

log = logging.getLogger(__name__)

KAFKA_VERSION = "4.1.1"
SCALA_VERSION = "2.13"
LOG4J_VERSION = "2.24.3"
_MARKER = ".complete"
_ERROR_LINE = re.compile(r"\] (ERROR|FATAL) ")
_EXCEPTION_LINE = re.compile(r"^(Caused by: )?[\w.$]+(Exception|Error)\b")

_POM = """<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>riskwatch.devstack</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>{kafka}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_{scala}</artifactId>
      <version>{kafka}</version>
    </dependency>
    <dependency>
      <!-- Kafka itself ships no log4j2 binding; without one the broker logs nothing. -->
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version>
    </dependency>
  </dependencies>
</project>
"""

# Log4j2 properties format needs no extra jar (the YAML one Kafka ships would need Jackson).
_LOG4J2 = """status = warn
name = riskwatch-devstack-kafka
# The File appender flushes every line; a shutdown hook only adds a warning on exit.
shutdownHook = disable
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ${sys:kafka.logs.dir}/broker.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
# Per-request and per-segment chatter drowns the lines that explain a failure.
logger.controller.name = kafka.controller
logger.controller.level = WARN
logger.coordinator.name = org.apache.kafka.coordinator
logger.coordinator.level = WARN
logger.logcleaner.name = kafka.log.LogCleaner
logger.logcleaner.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
logger.raft.name = org.apache.kafka.raft
logger.raft.level = WARN
logger.storage.name = org.apache.kafka.storage
logger.storage.level = WARN
logger.unifiedlog.name = kafka.log
logger.unifiedlog.level = WARN
"""


def default_cache_dir() -> Path:
    env = os.environ.get("RW_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "riskwatch"


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    # Two pytest sessions (or a session and `fetch-kafka`) may download at the same time.
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_jars(cache_dir: Path | None = None, *, timeout: float = 900.0) -> Path:
    """Return the directory holding the broker's jars, fetching them with Maven if needed."""
    root = (cache_dir or default_cache_dir()) / f"kafka-{KAFKA_VERSION}"
    lib = root / "lib"
    marker = root / _MARKER
    main_jar = lib / f"kafka_{SCALA_VERSION}-{KAFKA_VERSION}.jar"
    if marker.exists() and main_jar.exists():
        return lib
    root.mkdir(parents=True, exist_ok=True)
    with _file_lock(root / ".lock"):
        if marker.exists() and main_jar.exists():
            return lib
        mvn = shutil.which("mvn")
        if mvn is None:
            raise DevstackError("Maven (mvn) is not on PATH; it is needed to fetch the Kafka jars")
        (root / "pom.xml").write_text(
            _POM.format(kafka=KAFKA_VERSION, scala=SCALA_VERSION, log4j=LOG4J_VERSION)
        )
        # A half-copied lib from an interrupted run must not mix with the new copy.
        shutil.rmtree(lib, ignore_errors=True)
        cmd = [mvn, "-q", "-B", "dependency:copy-dependencies", "-DoutputDirectory=lib"]
        log.info("fetching Kafka %s jars into %s", KAFKA_VERSION, lib)
        try:
            result = subprocess.run(  # noqa: S603 - fixed command
                cmd, cwd=root, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise DevstackError(f"{' '.join(cmd)} timed out after {timeout}s in {root}") from exc
        if result.returncode != 0 or not main_jar.exists():
            raise DevstackError(
                f"`{' '.join(cmd)}` in {root} failed ({result.returncode}):\n"
                f"{(result.stdout + result.stderr)[-4000:]}"
            )
        jars = sorted(p.name for p in lib.glob("*.jar"))
        marker.write_text(json.dumps({"kafka": KAFKA_VERSION, "jars": jars}, indent=1))
    return lib


def new_cluster_id() -> str:
    """A KRaft cluster id: base64url of 16 random bytes without padding, as Kafka makes them.

    Like Kafka's own Uuid.randomUuid(), never one starting with "-": kafka-storage would read
    it as an option (it failed a test run once)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


# -- a minimal Kafka wire-protocol probe ---------------------------------------------------
# Readiness means "a client gets metadata listing a live broker", not just "the port is open";
# a few bytes of protocol check that without pulling a Kafka client into this package.


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    buf = bytearray()
    while len(buf) < size:
        chunk = sock.recv(size - len(buf))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        buf += chunk
    return bytes(buf)


def _request(sock: socket.socket, api_key: int, version: int, corr: int, body: bytes) -> bytes:
    client = b"riskwatch-devstack"
    header = struct.pack(">hhih", api_key, version, corr, len(client)) + client
    payload = header + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    (size,) = struct.unpack(">i", _recv_exact(sock, 4))
    data = _recv_exact(sock, size)
    (got_corr,) = struct.unpack_from(">i", data, 0)
    if got_corr != corr:
        raise ConnectionError(f"correlation id mismatch: {got_corr} != {corr}")
    return data[4:]


def probe_metadata(host: str, port: int, timeout: float = 3.0) -> int:
    """Round-trip ApiVersions and Metadata; return how many live brokers the cluster reports."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        data = _request(sock, 18, 0, 1, b"")  # ApiVersions v0: every broker speaks it
        (error, count) = struct.unpack_from(">hi", data, 0)
        if error != 0:
            raise ConnectionError(f"ApiVersions error code {error}")
        ranges = {}
        for i in range(count):
            key, low, high = struct.unpack_from(">hhh", data, 6 + 6 * i)
            ranges[key] = (low, high)
        low, high = ranges.get(3, (0, 0))
        # v4..v8 share a non-flexible layout that is easy to parse; Kafka 4 still serves them.
        version = max(low, 4)
        if version > min(high, 8):
            raise ConnectionError(f"broker Metadata versions {low}..{high} not probeable")
        body = struct.pack(">ib", -1, 0)  # all topics, no auto-creation
        if version >= 8:
            body += struct.pack(">bb", 0, 0)
        data = _request(sock, 3, version, 2, body)
        (_throttle, brokers) = struct.unpack_from(">ii", data, 0)
        return int(brokers)


# -- the broker ----------------------------------------------------------------------------


class KafkaBroker:
    """A single-node KRaft Kafka (broker and controller in one JVM) with data in ``data_dir``."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        controller_port: int | None = None,
        heap: str = "512m",
        num_partitions: int = 3,
        lib_dir: Path | None = None,
        extra_config: Mapping[str, str] | None = None,
        die_with_parent: bool = False,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.heap = heap
        self.num_partitions = num_partitions
        self.lib_dir = lib_dir
        self.extra_config = dict(extra_config or {})
        self.die_with_parent = die_with_parent
        self._requested = (port, controller_port)
        self._port = port
        self._controller_port = controller_port
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0
        self.last_start_seconds: float | None = None

    @property
    def log_dirs(self) -> Path:
        return self.data_dir / "kraft-logs"

    @property
    def broker_log(self) -> Path:
        return self.data_dir / "broker.log"

    @property
    def stdout_log(self) -> Path:
        return self.data_dir / "stdout.log"

    @property
    def port(self) -> int:
        if self._port is None:
            raise DevstackError("Kafka broker has no port yet: start() it")
        return self._port

    @property
    def controller_port(self) -> int:
        if self._controller_port is None:
            raise DevstackError("Kafka broker has no controller port yet: start() it")
        return self._controller_port

    @property
    def bootstrap_servers(self) -> str:
        return f"{LOCALHOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> None:
        """Format storage on first use, launch the JVM and wait until clients get metadata."""
        if self.is_running():
            return
        started = time.monotonic()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        lib = self.lib_dir or ensure_jars()
        java = shutil.which("java")
        if java is None:
            raise DevstackError("java is not on PATH; Kafka needs a JRE (17+)")
        self._choose_ports()
        config = self._write_config()
        log4j = self.data_dir / "log4j2.properties"
        log4j.write_text(_LOG4J2)
        classpath = f"{lib}/*"

        if not (self.log_dirs / "meta.properties").exists():
            self._format(java, classpath, config, log4j)

        argv = [
            java,
            f"-Xmx{self.heap}",
            f"-Xms{self.heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={log4j}",
            f"-Dkafka.logs.dir={self.data_dir}",
            "-cp",
            classpath,
            "kafka.Kafka",
            str(config),
        ]
        self._log_offset = self.broker_log.stat().st_size if self.broker_log.exists() else 0
        with self.stdout_log.open("ab") as out:
            self._proc = subprocess.Popen(  # noqa: S603 - fixed command
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                # Own process group: signals go to the JVM only, and it outlives a CLI parent.
                start_new_session=True,
                preexec_fn=_pdeathsig_preexec() if self.die_with_parent else None,
            )
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.kill()
            raise
        self.last_start_seconds = time.monotonic() - started
        log.info("Kafka up on %s in %.1fs", self.bootstrap_servers, self.last_start_seconds)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (controlled shutdown), then SIGKILL after ``timeout`` seconds."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("Kafka did not stop within %ss, killing it", timeout)
            self.kill()

    def kill(self) -> None:
        """SIGKILL the broker at once (fault injection, or a failed start)."""
        proc = self._proc
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)

    def __enter__(self) -> KafkaBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- internals ------------------------------------------------------------------------

    def _choose_ports(self) -> None:
        # Restarts reuse the ports of the first run: the controller endpoint is part of the
        # formatted KRaft voter set, and clients may still hold the old bootstrap address.
        remembered: dict[str, int] = {}
        with contextlib.suppress(OSError, ValueError):
            remembered = json.loads((self.data_dir / "ports.json").read_text())
        port, controller_port = self._requested
        if port is None:
            old = remembered.get("port")
            port = old if old and port_is_free(old) else free_port()
        if controller_port is None:
            old = remembered.get("controller_port")
            controller_port = old if old and port_is_free(old) else free_port()
            while controller_port == port:
                controller_port = free_port()
        self._port, self._controller_port = port, controller_port
        (self.data_dir / "ports.json").write_text(
            json.dumps({"port": port, "controller_port": controller_port})
        )

    def _write_config(self) -> Path:
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"{LOCALHOST}:{self.controller_port}",
            "listeners": f"PLAINTEXT://{LOCALHOST}:{self.port},"
            f"CONTROLLER://{LOCALHOST}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{LOCALHOST}:{self.port},"
            f"CONTROLLER://{LOCALHOST}:{self.controller_port}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.log_dirs),
            "num.partitions": str(self.num_partitions),
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            "offsets.topic.replication.factor": "1",
            # 50 partitions (the default) make the first consumer-group join slow on 2 cores.
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "true",
            # After a kill -9 a restarted node waits out its own old session before it is
            # unfenced: 9 s by default, which every fault test would pay.
            "broker.heartbeat.interval.ms": "500",
            "broker.session.timeout.ms": "4000",
            "num.network.threads": "2",
            "num.io.threads": "4",
            **self.extra_config,
        }
        path = self.data_dir / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        return path

    def _format(self, java: str, classpath: str, config: Path, log4j: Path) -> None:
        cmd = [
            java,
            "-Xmx256m",
            f"-Dlog4j2.configurationFile={log4j}",
            f"-Dkafka.logs.dir={self.data_dir}",
            "-cp",
            classpath,
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            "-t",
            new_cluster_id(),
            "-c",
            str(config),
        ]
        result = subprocess.run(  # noqa: S603 - fixed command
            cmd, capture_output=True, text=True, timeout=120, check=False, cwd=self.data_dir
        )
        if result.returncode != 0:
            raise DevstackError(
                f"formatting KRaft storage in {self.log_dirs} failed ({result.returncode}):\n"
                f"{(result.stdout + result.stderr)[-4000:]}"
            )

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last_error = "port not open yet"
        while time.monotonic() < deadline:
            proc = self._proc
            if proc is None or proc.poll() is not None:
                code = None if proc is None else proc.returncode
                raise DevstackError(f"Kafka exited during startup (code {code})\n{self._logs()}")
            if can_connect(self.port):
                try:
                    if probe_metadata(LOCALHOST, self.port) >= 1:
                        return
                    last_error = "metadata lists no live broker yet"
                except (OSError, ConnectionError, struct.error) as exc:
                    last_error = f"metadata probe failed: {exc}"
            time.sleep(0.2)
        raise DevstackError(f"Kafka not ready after {timeout}s ({last_error})\n{self._logs()}")

    def _logs(self) -> str:
        return (
            f"--- errors in {self.broker_log} ---\n{self._errors()}\n"
            f"--- tail of {self.broker_log} ---\n{tail(self.broker_log, 25)}\n"
            f"--- {self.stdout_log} ---\n{tail(self.stdout_log, 20)}"
        )

    def _errors(self, limit: int = 12) -> str:
        """ERROR lines and exception messages this run logged.

        The cause of a failed start sits above hundreds of shutdown lines, out of the tail.
        """
        try:
            with self.broker_log.open("rb") as fh:
                fh.seek(self._log_offset)
                text = fh.read().decode("utf-8", errors="replace")
        except OSError:
            return "<none>"
        picked = [
            line
            for line in text.splitlines()
            if _ERROR_LINE.search(line) or _EXCEPTION_LINE.match(line)
        ]
        return "\n".join(picked[:limit]) or "<none>"
