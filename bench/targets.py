"""What the benchmark runs against, and how it is started and stopped.

`DistributedTarget`: devstack's `Stack` on free ports (PostgreSQL, a KRaft Kafka broker and the
five services as OS processes), its ingest and alerting serving `construction` only; for the
mqtt phase, ingest runs its own Mosquitto (RW_MQTT__MANAGED_BROKER, ADR 0020) on a free port.
`EmergencySector`: for the isolation phase, one more ingest and one more alerting process
serving `emergency` only, started like the stack's own (same command and environment, other
ports and `RW_SECTORS`), inside a `CpuLimit`. `EmbeddedTarget`: `riskwatch run`, all five
services in one process on the in-process bus, with the PostgreSQL server it starts itself
(and its Mosquitto, when the binary is there, on a free port).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psutil
from workload import CONSTRUCTION, EMERGENCY, Workload

from riskwatch.devstack._util import LOCALHOST, free_port
from riskwatch.devstack.pgserver import PostgresServer
from riskwatch.devstack.procs import ServiceProcess
from riskwatch.devstack.supervisor import (
    DEFAULT_COMMAND,
    SERVICES,
    ServiceSpec,
    Stack,
    StackConfig,
)
from riskwatch.embedded.database import postgres_server
from riskwatch.ingest.mqtt.broker import find_mosquitto

BENCH_DIR = Path(__file__).resolve().parent
PidOf = Callable[[], int | None]


@dataclass(frozen=True)
class Endpoints:
    """Where one sector's readings go in (ingest) and are evaluated (alerting)."""

    workload: Workload
    ingest: str
    alerting: str


def distinct_free_ports(n: int) -> list[int]:
    chosen: list[int] = []
    while len(chosen) < n:
        port = free_port()
        if port not in chosen:
            chosen.append(port)
    return chosen


def child_named(parent: PidOf, name: str) -> PidOf:
    """The pid of the first descendant of `parent` called `name` (None while there is none):
    the Mosquitto an ingest process runs."""

    def pid() -> int | None:
        root = parent()
        if root is None:
            return None
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(root).children(recursive=True):
                if child.name() == name:
                    return int(child.pid)
        return None

    return pid


def _executable(name: str) -> str:
    """A console script of this environment (the one `uv run` would start)."""
    sibling = Path(sys.executable).parent / name
    return str(sibling) if sibling.exists() else shutil.which(name) or name


class DistributedTarget:
    mode = "distributed"

    def __init__(self, args: Any, run_dir: Path, env: dict[str, str]) -> None:
        self.args = args
        ports = distinct_free_ports(4 + len(SERVICES))
        # Ingest's own broker, for the mqtt phase only: the other phases measure the stack
        # as it ran before it (other services ignore RW_MQTT__*).
        self.mqtt_port = ports[3] if "mqtt" in args.phases else None
        if self.mqtt_port is not None:
            env = env | {
                "RW_MQTT__MANAGED_BROKER": "true",
                "RW_MQTT__PORT": str(self.mqtt_port),
                "RW_MQTT__BROKER_DIR": str(run_dir / "state" / "mqtt"),
            }
        command: tuple[str, ...] = DEFAULT_COMMAND
        if args.variant != "none":
            command = (sys.executable, str(BENCH_DIR / "variant.py"), args.variant)
            command += ("{service}", "{action}")
        self.config = StackConfig(
            state_dir=run_dir / "state",
            command=command,
            services=tuple(replace(s, port=p) for s, p in zip(SERVICES, ports[4:], strict=True)),
            pg_port=ports[0],
            kafka_port=ports[1],
            kafka_controller_port=ports[2],
            kafka_heap=args.kafka_heap,
            env=env,
            inherit_rw_env=False,
            pg_fast=args.pg_fast,
            ready_timeout=180.0,
        )
        self.stack = Stack(self.config)
        self.timings: dict[str, float] = {}

    def start(self) -> None:
        self.stack.start()
        self.timings = {k: round(v, 1) for k, v in self.stack.timings.items()}

    def stop(self) -> None:
        self.stack.stop()
        state = self.config.state_dir
        if not self.args.keep_state:
            with contextlib.suppress(OSError):
                shutil.copy(state / "pg" / "log", state / "logs" / "pg.log")
            shutil.rmtree(state / "pg", ignore_errors=True)
            shutil.rmtree(state / "kafka" / "kraft-logs", ignore_errors=True)

    @property
    def endpoints(self) -> Endpoints:
        urls = self.stack.urls
        return Endpoints(CONSTRUCTION, urls["ingest"], urls["alerting"])

    @property
    def dsn(self) -> str:
        return self.stack.database_url.replace("+asyncpg", "")

    @property
    def kafka_bootstrap(self) -> str:
        return self.stack.kafka_bootstrap

    def processes(self) -> dict[str, PidOf]:
        """The platform's processes to measure (each with its descendants)."""
        assert self.stack.kafka is not None
        assert self.stack.postgres is not None
        kafka, postgres = self.stack.kafka, self.stack.postgres
        out: dict[str, PidOf] = {
            spec.name: (lambda p=self.stack.processes[spec.name]: p.pid)
            for spec in self.config.services
        }
        out["kafka"] = lambda: kafka.pid
        out["postgres"] = lambda: postgres.pid
        if self.mqtt_port is not None:
            out["mosquitto"] = child_named(out["ingest"], "mosquitto")
        return out

    def pid(self, name: str) -> int:
        return self.stack.processes[name].pid


class CpuLimit:
    """A CPU quota for a set of processes, as a Kubernetes CPU limit sets one for a pod: a cgroup
    v1 `cpu` group with cfs_quota_us / cfs_period_us = `cpus`. Where no such group can be made
    (no cgroup v1 cpu controller, not root), the processes get nice 10 instead, which only
    yields to others when the CPU is contended and caps nothing; `describe` says which."""

    ROOT = Path("/sys/fs/cgroup/cpu")
    PERIOD_US = 100_000
    NICE = 10

    def __init__(self, name: str, cpus: float) -> None:
        self.cpus = cpus
        self.path = self.ROOT / name
        try:
            self.path.mkdir()
            (self.path / "cpu.cfs_period_us").write_text(str(self.PERIOD_US))
            (self.path / "cpu.cfs_quota_us").write_text(str(int(cpus * self.PERIOD_US)))
        except OSError as exc:
            with contextlib.suppress(OSError):
                self.path.rmdir()
            self.kind = "nice"
            self.describe = (
                f"NO CPU quota: cannot create {self.path} ({exc.strerror or exc}); "
                f"the processes run at nice {self.NICE} instead of a {cpus:g}-CPU limit"
            )
        else:
            self.kind = "cgroup"
            self.describe = f"cgroup v1 CPU quota of {cpus:g} CPU ({self.path})"

    def add(self, pid: int) -> None:
        """Put `pid` and its descendants under the limit."""
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            if self.kind == "cgroup":
                # One write per pid; cgroup.procs moves all the threads of the process.
                (self.path / "cgroup.procs").write_text(str(proc.pid))
            else:
                for thread in proc.threads():  # nice is per thread on Linux
                    os.setpriority(os.PRIO_PROCESS, thread.id, self.NICE)

    def stats(self) -> dict[str, float]:
        """The group's cumulative throttling counters (empty without a cgroup)."""
        if self.kind != "cgroup":
            return {}
        values = dict(line.split() for line in (self.path / "cpu.stat").read_text().splitlines())
        return {
            "periods": int(values.get("nr_periods", 0)),
            "throttled_periods": int(values.get("nr_throttled", 0)),
            "throttled_seconds": int(values.get("throttled_time", 0)) / 1e9,
        }

    def close(self) -> None:
        """Remove the group (its processes are stopped by then; any left go back to the root)."""
        if self.kind != "cgroup":
            return
        with contextlib.suppress(OSError):
            for pid in (self.path / "cgroup.procs").read_text().split():
                (self.ROOT / "cgroup.procs").write_text(pid)
            self.path.rmdir()


class SectorProcesses:
    """More service processes beside the stack's own, serving `sector` only: what a
    per-sector Kubernetes Deployment adds. `services` is ((service, name), ...)."""

    def __init__(
        self,
        target: DistributedTarget,
        sector: str,
        services: tuple[tuple[str, str], ...],
        limit: CpuLimit | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.stack = target.stack
        self.sector = sector
        self.limit = limit
        self.env = env or {}
        self.names = tuple(name for _, name in services)
        self.processes: dict[str, ServiceProcess] = {}
        used = {s.port for s in target.config.services}
        ports = distinct_free_ports(len(services))
        while used & set(ports):
            ports = distinct_free_ports(len(services))
        self.specs = {
            name: ServiceSpec(service, port)
            for (service, name), port in zip(services, ports, strict=True)
        }

    def start(self) -> float:
        """Start them all (under the limit, if any), wait until ready; the seconds taken."""
        started = time.monotonic()
        for name, spec in self.specs.items():
            env = self.stack.service_env(spec)
            env["RW_SECTORS"] = self.sector
            env.update(self.env)
            proc = ServiceProcess(
                name,
                self.stack.argv(spec, "serve"),
                env=env,
                log_path=self.stack.logs_dir / f"{name.replace(' ', '-')}.log",
                ready_url=f"http://{LOCALHOST}:{spec.port}/readyz",
            )
            proc.start()
            self.processes[name] = proc
            if self.limit is not None:
                self.limit.add(proc.pid)
        for proc in self.processes.values():
            proc.wait_ready(self.stack.config.ready_timeout)
        return time.monotonic() - started

    def stop(self) -> None:
        for proc in self.processes.values():
            proc.stop()
        if self.limit is not None:
            self.limit.close()

    def url(self, name: str) -> str:
        return f"http://{LOCALHOST}:{self.specs[name].port}"

    def pids(self) -> dict[str, PidOf]:
        return {name: (lambda p=proc: p.pid) for name, proc in self.processes.items()}


class EmergencySector(SectorProcesses):
    """An ingest and an alerting process for sector `emergency`, under a CPU limit and, if
    `budget` is set, an ingest budget of that many readings/s (RW_SECTOR_READINGS_PER_S)."""

    NAMES = ("emergency ingest", "emergency alerting")

    def __init__(self, target: DistributedTarget, limit: CpuLimit, budget: int | None) -> None:
        env = {"RW_MQTT__ENABLED": "false"}  # the stack's ingest has the broker, if any
        if budget:
            env["RW_SECTOR_READINGS_PER_S"] = json.dumps({EMERGENCY.sector: budget})
        super().__init__(
            target,
            EMERGENCY.sector,
            (("ingest", self.NAMES[0]), ("alerting", self.NAMES[1])),
            limit,
            env,
        )

    @property
    def endpoints(self) -> Endpoints:
        return Endpoints(EMERGENCY, self.url(self.NAMES[0]), self.url(self.NAMES[1]))


class EmbeddedTarget:
    """`riskwatch run` (no simulator) with its own data dir and port under the run dir."""

    mode = "embedded"
    BANNER = "RiskWatch is running"  # printed once the demo catalog and roster are seeded

    def __init__(self, args: Any, run_dir: Path, env: dict[str, str]) -> None:
        self.args = args
        self.data_dir = run_dir / "embedded"
        self.port, self.mqtt_port = distinct_free_ports(2)
        self.url = f"http://{LOCALHOST}:{self.port}"
        full_env = {
            **os.environ,
            **env,
            "RW_DATA_DIR": str(self.data_dir),
            "RW_HOST": LOCALHOST,
            "RW_PORT": str(self.port),
            # Not 1883, which a `riskwatch run` may hold. Any RW_MQTT__* replaces the embedded
            # settings' whole default (managed broker on), so that is said again.
            "RW_MQTT__PORT": str(self.mqtt_port),
            "RW_MQTT__MANAGED_BROKER": "true",
        }
        self.process = ServiceProcess(
            "riskwatch",
            [_executable("riskwatch"), "run", "--no-simulate"],
            env=full_env,
            log_path=run_dir / "embedded.log",
            ready_url=f"{self.url}/readyz",
        )
        self.postgres = PostgresServer(self.data_dir / "pg")
        self.timings: dict[str, float] = {}

    def start(self) -> None:
        started = time.monotonic()
        self.process.start()
        self.process.wait_ready(300.0)
        deadline = time.monotonic() + 120
        while self.BANNER not in self.process.log_path.read_text(errors="replace"):
            if time.monotonic() > deadline or not self.process.is_alive():
                raise RuntimeError(
                    f"riskwatch run never printed its banner: {self.process.log_path}"
                )
            time.sleep(0.2)
        if not self.postgres.is_running():
            raise RuntimeError(f"no PostgreSQL runs in {self.postgres.data_dir}")
        self.timings = {"embedded": round(time.monotonic() - started, 1)}

    def stop(self) -> None:
        self.process.stop(timeout=60.0)
        self.postgres.stop()  # a no-op when `riskwatch run` stopped it, as it should
        if not self.args.keep_state:
            with contextlib.suppress(OSError):
                shutil.copy(self.postgres.log_path, self.data_dir / "pg.log")
            shutil.rmtree(self.postgres.data_dir, ignore_errors=True)

    @property
    def endpoints(self) -> Endpoints:
        return Endpoints(CONSTRUCTION, self.url, self.url)

    @property
    def dsn(self) -> str:
        # As its superuser, whose password `riskwatch run` made at its first start.
        return postgres_server(self.data_dir).url("riskwatch", driver="postgresql")

    def processes(self) -> dict[str, PidOf]:
        postgres = self.postgres
        out: dict[str, PidOf] = {"riskwatch": lambda: self.process.pid}
        out["postgres"] = lambda: postgres.pid
        if find_mosquitto() is not None:  # `riskwatch run` runs it then
            out["mosquitto"] = child_named(out["riskwatch"], "mosquitto")
        return out

    def pid(self, name: str) -> int:
        if name != "riskwatch":
            raise KeyError(name)
        return self.process.pid


Target = DistributedTarget | EmbeddedTarget
