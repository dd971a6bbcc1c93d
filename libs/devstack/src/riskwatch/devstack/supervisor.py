"""The distributed mode on one machine: PostgreSQL, Kafka and the five services as OS processes.

Migrations connect as the owner of the schemas (the server's superuser, or the admin URL given);
then the stack makes the services' role (riskwatch.common.dbroles: DML on the service schemas,
the audit trail through `riskwatch_service`, SELECT and INSERT only) and the services connect
as it. The service hosting the audit trail also gets the owner's URL, for its housekeeping.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from riskwatch.common.audit.models import SCHEMA as AUDIT_SCHEMA
from riskwatch.common.audit.models import SERVICE_ROLE as AUDIT_ROLE
from riskwatch.common.dbroles import check_role_name, grant_services_sql, with_credentials
from riskwatch.devstack._util import (
    LOCALHOST,
    DevstackError,
    create_time_of,
    process_matches,
    tail,
    terminate_group,
)
from riskwatch.devstack.kafka import KafkaBroker
from riskwatch.devstack.pgserver import PostgresServer, create_database, run_sql, with_database
from riskwatch.devstack.procs import ServiceProcess

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    port: int
    builtin_issuer: bool = False
    # Hosts the audit trail's owner (AuditModule): gets the owner's URL for its housekeeping.
    hosts_audit: bool = False


# Migration and start order; `down` walks it backwards.
SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("ingest", 8001, builtin_issuer=True),
    ServiceSpec("alerting", 8002),
    ServiceSpec("workorder", 8003),
    ServiceSpec("notify", 8004),
    ServiceSpec("reporting", 8005, hosts_audit=True),
)

DEFAULT_COMMAND: tuple[str, ...] = ("riskwatch-{service}", "{action}")
JWKS_PATH = "/.well-known/jwks.json"  # where the issuer publishes its public keys
STATE_FILE = "state.json"
# Per-service values the stack computes; a caller's environment must not flatten them.
_PER_SERVICE_KEYS = frozenset({"RW_PORT", "RW_AUTH__BUILTIN_ISSUER"})
SERVICES_PASSWORD_FILE = "services-db-password"  # noqa: S105 - a file name


@dataclass(frozen=True)
class StackConfig:
    """Everything `up` needs; tests and the benchmark build their own with other ports."""

    state_dir: Path
    services: Sequence[ServiceSpec] = SERVICES
    # argv template; {service} and {action} (migrate | serve) are filled in per call.
    command: Sequence[str] = DEFAULT_COMMAND
    pg_port: int = 5544
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    kafka_heap: str = "512m"
    database: str = "riskwatch"
    # Use an existing server/broker instead of starting one (the stack then never stops it).
    postgres_admin_url: str | None = None
    # The services and their migrations reach PostgreSQL on this port of 127.0.0.1 instead of
    # the server's (a PgFaultProxy in front of it); each keeps its own user and password.
    pg_proxy_port: int | None = None
    kafka_bootstrap: str | None = None
    # Applied last, over everything else the services get.
    env: Mapping[str, str] = field(default_factory=dict)
    inherit_rw_env: bool = True
    pg_fast: bool = False
    ready_timeout: float = 60.0
    migrate_timeout: float = 300.0
    kafka_timeout: float = 90.0
    # Services and the broker get SIGKILL when the thread that started them ends (test
    # sessions: a killed pytest leaves no JVM behind). Start them again (`start_service`,
    # `start_kafka`) from a thread that lives as long as the stack. PostgreSQL, daemonized
    # by pg_ctl, is not covered: the caller's cleanup stops it.
    die_with_parent: bool = False

    @classmethod
    def from_env(
        cls, state_dir: Path, environ: Mapping[str, str] | None = None, **overrides: Any
    ) -> StackConfig:
        env = os.environ if environ is None else environ
        base = cls(
            state_dir=Path(state_dir),
            pg_port=int(env.get("RW_PG_PORT", "5544")),
            kafka_port=int(env.get("RW_KAFKA_PORT", "9092")),
            kafka_controller_port=int(env.get("RW_KAFKA_CONTROLLER_PORT", "9093")),
        )
        return replace(base, **overrides)


def _resolve_executable(name: str) -> str:
    # `uv run riskwatch-devstack` has the venv on PATH, a bare `.venv/bin/riskwatch-devstack`
    # may not; the services' console scripts live next to our interpreter either way.
    if os.sep in name:
        return name
    found = shutil.which(name)
    if found:
        return found
    sibling = Path(sys.executable).parent / name
    return str(sibling) if sibling.exists() else name


def read_state(state_dir: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads((Path(state_dir) / STATE_FILE).read_text())
    except FileNotFoundError:
        return None
    return data


def _write_state(state_dir: Path, state: Mapping[str, Any]) -> None:
    path = Path(state_dir) / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(path)


def _kept_secret(state_dir: Path, name: str, nbytes: int) -> str:
    """A random value generated on first use and kept readable by the owner only."""
    path = Path(state_dir) / name
    with contextlib.suppress(FileNotFoundError):
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        secret = secrets.token_urlsafe(nbytes)
        fh.write(secret + "\n")
    return secret


def admin_password(state_dir: Path) -> str:
    """The password of the built-in issuer's `admin` account (file `admin-password`)."""
    return _kept_secret(state_dir, "admin-password", 12)


def demo_password(state_dir: Path) -> str:
    """The password of the demo accounts (file `demo-password`; riskwatch.common.identity.demo)."""
    return _kept_secret(state_dir, "demo-password", 12)


def services_db_password(state_dir: Path) -> str:
    """The password of the services' database role (file `services-db-password`)."""
    return _kept_secret(state_dir, SERVICES_PASSWORD_FILE, 24)


class Stack:
    """Start and stop the whole distributed stack; state goes to ``<state_dir>/state.json``."""

    def __init__(self, config: StackConfig) -> None:
        self.config = replace(config, state_dir=Path(config.state_dir).absolute())
        self.postgres: PostgresServer | None = None
        self.kafka: KafkaBroker | None = None
        self.processes: dict[str, ServiceProcess] = {}
        self.timings: dict[str, float] = {}
        # How many times each service process was started (1 after `start`; more after
        # `start_service`), so a test can tell its own restarts from anyone else's.
        self.starts: dict[str, int] = {}
        self._state: dict[str, Any] = {}

    # -- derived values -------------------------------------------------------------------

    @property
    def state_dir(self) -> Path:
        return self.config.state_dir

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def database_url(self) -> str:
        """asyncpg URL of the stack's database as its owner, straight to the server: what the
        migrations, the audit trail's housekeeping and checks of the data use."""
        if self.config.postgres_admin_url is not None:
            return with_database(self.config.postgres_admin_url, self.config.database)
        if self.postgres is None:
            raise DevstackError("PostgreSQL is not started")
        return self.postgres.url(self.config.database)

    @property
    def services_role(self) -> str:
        """The services' role, named after the database: stacks sharing one server (tests)
        each have their own role and password."""
        role = check_role_name(self.config.database.lower())
        owner = urlsplit(self.database_url).username
        if role in (owner, AUDIT_ROLE):
            raise DevstackError(
                f"database {self.config.database!r} would name the services' role"
                f" {role!r}, which is another role's name: choose another"
            )
        return role

    @property
    def services_database_url(self) -> str:
        """asyncpg URL the services connect with: their own role, through the proxy if any."""
        return with_credentials(
            self._routed(self.database_url),
            user=self.services_role,
            password=services_db_password(self.state_dir),
        )

    def _routed(self, url: str) -> str:
        """`url` through the fault proxy when there is one; user and password kept."""
        port = self.config.pg_proxy_port
        if port is None:
            return url
        parts = urlsplit(url)
        userinfo = parts.netloc.rpartition("@")[0]
        netloc = f"{userinfo}@{LOCALHOST}:{port}" if userinfo else f"{LOCALHOST}:{port}"
        return urlunsplit(parts._replace(netloc=netloc))

    @property
    def kafka_bootstrap(self) -> str:
        if self.config.kafka_bootstrap is not None:
            return self.config.kafka_bootstrap
        if self.kafka is None:
            raise DevstackError("Kafka is not started")
        return self.kafka.bootstrap_servers

    def base_url(self, service: str) -> str:
        spec = self._spec(service)
        return f"http://{LOCALHOST}:{spec.port}"

    @property
    def urls(self) -> dict[str, str]:
        return {spec.name: self.base_url(spec.name) for spec in self.config.services}

    @property
    def issuer_spec(self) -> ServiceSpec | None:
        """The service that hosts the built-in token issuer (ingest), if the stack has one."""
        return next((s for s in self.config.services if s.builtin_issuer), None)

    def _spec(self, name: str) -> ServiceSpec:
        for spec in self.config.services:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def argv(self, spec: ServiceSpec, action: str) -> list[str]:
        argv = [part.format(service=spec.name, action=action) for part in self.config.command]
        argv[0] = _resolve_executable(argv[0])
        return argv

    def service_env(self, spec: ServiceSpec, *, migrate: bool = False) -> dict[str, str]:
        """The environment of the service's process, or with `migrate` of its migration."""
        # The caller's RW_* reach the services only with inherit_rw_env (tests and the
        # benchmark set it off so a developer's shell cannot change what they measure).
        env = {
            k: v
            for k, v in os.environ.items()
            if self.config.inherit_rw_env or not k.startswith("RW_")
        }
        env.update(
            {
                "RW_ENV": "development",
                "RW_BUS": "kafka",
                "RW_KAFKA__BOOTSTRAP_SERVERS": self.kafka_bootstrap,
                "RW_HOST": LOCALHOST,
                "RW_SECTORS": "all",
                "RW_ADMIN_PASSWORD": admin_password(self.state_dir),
                # A development stack: the issuer opens the demo accounts (README).
                "RW_DEMO_PASSWORD": demo_password(self.state_dir),
                "RW_DATA_DIR": str(self.state_dir / "data"),
                # A development stack: notify seeds duty centers and a roster to route to.
                "RW_SEED_DEMO_ROSTER": "true",
                # ... and workorder the demo's command manual, in force at once.
                "RW_SEED_DEMO_MANUAL": "true",
            }
        )
        issuer = self.issuer_spec
        if issuer is not None and not spec.builtin_issuer:
            # No shared secret: the others verify tokens with the issuer's public keys.
            env["RW_AUTH__JWKS_URL"] = self.base_url(issuer.name) + JWKS_PATH
        if self.config.inherit_rw_env:
            # Users override settings by exporting RW_* before `up`.
            env.update({k: v for k, v in os.environ.items() if k.startswith("RW_")})
        # Computed per process, over the caller's RW_*: an exported RW_DATABASE__URL must not
        # make the services the owner of the schemas again.
        env.pop("RW_AUDIT__OWNER_URL", None)
        if migrate:
            env["RW_DATABASE__URL"] = self._routed(self.database_url)
        else:
            env["RW_DATABASE__URL"] = self.services_database_url
            if spec.hosts_audit:
                env["RW_AUDIT__OWNER_URL"] = self._routed(self.database_url)
        env["RW_PORT"] = str(spec.port)
        env["RW_AUTH__BUILTIN_ISSUER"] = "true" if spec.builtin_issuer else "false"
        env.update(self.config.env)
        return env

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> dict[str, Any]:
        """Bring everything up in order; on any failure stop what was started and raise."""
        existing = read_state(self.state_dir)
        if existing is not None and _anything_alive(existing):
            raise DevstackError(
                f"a stack from {self.state_dir} is still running; run `riskwatch-devstack down`"
            )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(exist_ok=True)
        (self.state_dir / "data").mkdir(exist_ok=True)
        self._state = {
            "version": 1,
            "state_dir": str(self.state_dir),
            "started_at": time.time(),
            "postgres": None,
            "kafka": None,
            "services": [],
        }
        try:
            self._start_postgres()
            self._start_kafka()
            self._migrate()
            self._grant_services()
            self._start_services()
        except BaseException:
            log.error("stack start failed, stopping what was started")
            self.stop()
            raise
        self._state["ready"] = True
        _write_state(self.state_dir, self._state)
        return self._state

    def _timed(self, what: str, started: float) -> None:
        self.timings[what] = time.monotonic() - started

    def _start_postgres(self) -> None:
        started = time.monotonic()
        cfg = self.config
        if cfg.postgres_admin_url is not None:
            create_database(
                with_database(cfg.postgres_admin_url, "postgres", "postgresql"), cfg.database
            )
            self._state["postgres"] = {"managed": False, "url": self.database_url}
        else:
            self.postgres = PostgresServer(
                self.state_dir / "pg", port=cfg.pg_port, fast=cfg.pg_fast
            )
            self.postgres.start()
            self.postgres.create_database(cfg.database)
            self._state["postgres"] = {
                "managed": True,
                "data_dir": str(self.postgres.data_dir),
                "port": self.postgres.port,
                "pid": self.postgres.pid,
                "url": self.database_url,
            }
        _write_state(self.state_dir, self._state)
        self._timed("postgres", started)

    def _start_kafka(self) -> None:
        started = time.monotonic()
        cfg = self.config
        if cfg.kafka_bootstrap is not None:
            self._state["kafka"] = {"managed": False, "bootstrap": cfg.kafka_bootstrap}
        else:
            self.kafka = KafkaBroker(
                self.state_dir / "kafka",
                port=cfg.kafka_port,
                controller_port=cfg.kafka_controller_port,
                heap=cfg.kafka_heap,
                die_with_parent=cfg.die_with_parent,
            )
            self.kafka.start(timeout=cfg.kafka_timeout)
            self._record_kafka()
        _write_state(self.state_dir, self._state)
        self._timed("kafka", started)

    def _record_kafka(self) -> None:
        broker = self._managed_kafka()
        pid = broker.pid
        self._state["kafka"] = {
            "managed": True,
            "data_dir": str(broker.data_dir),
            "port": broker.port,
            "pid": pid,
            "create_time": create_time_of(pid) if pid else None,
            "bootstrap": broker.bootstrap_servers,
        }

    def _migrate(self) -> None:
        started = time.monotonic()
        for spec in self.config.services:
            log_path = self.logs_dir / f"{spec.name}-migrate.log"
            argv = self.argv(spec, "migrate")
            log.info("migrating %s: %s", spec.name, shlex.join(argv))
            with log_path.open("ab") as out:
                try:
                    result = subprocess.run(  # noqa: S603 - argv from our own config
                        argv,
                        env=self.service_env(spec, migrate=True),
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        timeout=self.config.migrate_timeout,
                        check=False,
                    )
                except (OSError, subprocess.TimeoutExpired) as exc:
                    raise DevstackError(
                        f"migrate of {spec.name} failed: {exc}\n"
                        f"--- {log_path} ---\n{tail(log_path)}"
                    ) from exc
            if result.returncode != 0:
                raise DevstackError(
                    f"`{shlex.join(argv)}` failed with code {result.returncode}\n"
                    f"--- {log_path} ---\n{tail(log_path)}"
                )
        self._timed("migrate", started)

    def _grant_services(self) -> None:
        """After the migrations, as the owner: the services' role, the same statement as the
        embedded platform's and the cluster's `grant-services` (riskwatch.common.dbroles)."""
        started = time.monotonic()
        sql = grant_services_sql(
            role=self.services_role,
            password=services_db_password(self.state_dir),
            audit_role=AUDIT_ROLE,
            audit_schema=AUDIT_SCHEMA,
        )
        run_sql(with_database(self.database_url, self.config.database, "postgresql"), sql)
        self._timed("grant", started)

    def _start_services(self) -> None:
        started = time.monotonic()
        for spec in self.config.services:
            proc = ServiceProcess(
                spec.name,
                self.argv(spec, "serve"),
                env=self.service_env(spec),
                log_path=self.logs_dir / f"{spec.name}.log",
                ready_url=f"{self.base_url(spec.name)}/readyz",
                die_with_parent=self.config.die_with_parent,
            )
            proc.start()
            self.processes[spec.name] = proc
            self.starts[spec.name] = 1
            self._state["services"].append(self._service_entry(spec, proc))
            _write_state(self.state_dir, self._state)
        # All started before any is awaited: their startups overlap.
        for spec in self.config.services:
            self.processes[spec.name].wait_ready(self.config.ready_timeout)
        self._timed("services", started)

    def _service_entry(self, spec: ServiceSpec, proc: ServiceProcess) -> dict[str, Any]:
        return {
            "name": spec.name,
            "port": spec.port,
            "pid": proc.pid,
            "create_time": create_time_of(proc.pid),
            "url": self.base_url(spec.name),
            "log": str(proc.log_path),
        }

    # -- faults: what an operator, an orchestrator or a fault test does to a running stack --

    def process(self, name: str) -> ServiceProcess:
        """The running process of service ``name``."""
        try:
            return self.processes[name]
        except KeyError:
            raise DevstackError(f"service {name} is not started") from None

    def kill_service(self, name: str) -> None:
        """SIGKILL the service's process group and wait until it is gone (kill -9)."""
        self.process(name).kill()

    def signal_service(self, name: str, sig: signal.Signals) -> None:
        """Send ``sig`` to the service's process group (SIGSTOP / SIGCONT to freeze it)."""
        self.process(name).send_signal(sig)

    def start_service(self, name: str, *, wait_ready: bool = True) -> None:
        """Start the service again after it exited or was killed, as an orchestrator would:
        same command and environment, same log (appended to). A no-op if it runs."""
        proc = self.process(name)
        if proc.is_alive():
            return
        proc.start()
        self.starts[name] = self.starts.get(name, 0) + 1
        spec = self._spec(name)
        self._state["services"] = [
            self._service_entry(spec, proc) if entry["name"] == name else entry
            for entry in self._state.get("services") or []
        ]
        _write_state(self.state_dir, self._state)
        if wait_ready:
            proc.wait_ready(self.config.ready_timeout)

    def restart_service(self, name: str) -> None:
        """Stop the service gracefully (SIGTERM), then start it again and wait until ready."""
        self.process(name).stop()
        self.start_service(name)

    def stop_kafka(self, *, kill: bool = False) -> None:
        """Stop the managed broker, keeping its data: controlled (SIGTERM) or ``kill`` -9."""
        broker = self._managed_kafka()
        if kill:
            broker.kill()
        else:
            broker.stop()

    def start_kafka(self) -> None:
        """Start the managed broker again on its data dir and ports; wait until it serves."""
        broker = self._managed_kafka()
        broker.start(timeout=self.config.kafka_timeout)
        self._record_kafka()
        _write_state(self.state_dir, self._state)

    def stop_postgres(self, mode: str = "fast") -> None:
        """Stop the managed server, keeping its data: ``fast`` (clients are disconnected,
        a clean shutdown) or ``immediate`` (a crash: recovery from WAL on the next start)."""
        self._managed_postgres().stop(mode=mode)

    def start_postgres(self) -> None:
        """Start the managed server again on its data dir and port."""
        server = self._managed_postgres()
        server.start()
        pg = self._state.get("postgres")
        if isinstance(pg, dict):
            pg["pid"] = server.pid
            _write_state(self.state_dir, self._state)

    def _managed_kafka(self) -> KafkaBroker:
        if self.kafka is None:
            raise DevstackError("this stack does not manage a Kafka broker")
        return self.kafka

    def _managed_postgres(self) -> PostgresServer:
        if self.postgres is None:
            raise DevstackError("this stack does not manage a PostgreSQL server")
        return self.postgres

    def stop(self) -> None:
        """Stop services (reverse order), then Kafka, then PostgreSQL."""
        if not self.processes and self.kafka is None and self.postgres is None:
            # A fresh object (e.g. `down` in a new process): work from state.json.
            stop_from_state(self.state_dir)
            return
        for spec in reversed(list(self.config.services)):
            proc = self.processes.pop(spec.name, None)
            if proc is not None:
                proc.stop()
        if self.kafka is not None:
            self.kafka.stop()
            self.kafka = None
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres = None
        (self.state_dir / STATE_FILE).unlink(missing_ok=True)

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _anything_alive(state: Mapping[str, Any]) -> bool:
    entries = [*(state.get("services") or []), state.get("kafka") or {}]
    for entry in entries:
        pid = entry.get("pid")
        if pid and process_matches(pid, entry.get("create_time")):
            return True
    pg = state.get("postgres") or {}
    return bool(pg.get("managed")) and PostgresServer(Path(pg["data_dir"])).is_running()


def stop_from_state(state_dir: Path) -> list[str]:
    """Stop whatever state.json records, tolerating processes that are already gone."""
    state = read_state(state_dir)
    if state is None:
        return []
    stopped: list[str] = []
    for entry in reversed(state.get("services") or []):
        if process_matches(entry["pid"], entry.get("create_time")):
            stopped.append(entry["name"])
        terminate_group(entry["pid"], timeout=15.0, create_time=entry.get("create_time"))
    kafka = state.get("kafka") or {}
    if kafka.get("managed") and kafka.get("pid"):
        if process_matches(kafka["pid"], kafka.get("create_time")):
            stopped.append("kafka")
        terminate_group(kafka["pid"], timeout=20.0, create_time=kafka.get("create_time"))
    pg = state.get("postgres") or {}
    if pg.get("managed"):
        server = PostgresServer(Path(pg["data_dir"]))
        if server.is_running():
            stopped.append("postgres")
        server.stop()
    (Path(state_dir) / STATE_FILE).unlink(missing_ok=True)
    return stopped


@dataclass(frozen=True)
class StatusRow:
    name: str
    pid: int | None
    alive: bool
    endpoint: str
    detail: str = ""


def status(state_dir: Path) -> list[StatusRow]:
    """One row per component recorded in state.json, with a live check of each."""
    state = read_state(state_dir)
    if state is None:
        return []
    rows: list[StatusRow] = []
    pg = state.get("postgres") or {}
    if pg:
        if pg.get("managed"):
            server = PostgresServer(Path(pg["data_dir"]))
            rows.append(StatusRow("postgres", server.pid, server.is_running(), pg["url"]))
        else:
            rows.append(StatusRow("postgres", None, True, pg["url"], "external"))
    kafka = state.get("kafka") or {}
    if kafka:
        pid: int | None = kafka.get("pid")
        alive = pid is not None and process_matches(pid, kafka.get("create_time"))
        if not kafka.get("managed"):
            alive, pid = True, None
        rows.append(
            StatusRow(
                "kafka", pid, alive, kafka["bootstrap"], "" if kafka.get("managed") else "external"
            )
        )
    with httpx.Client(timeout=1.0, trust_env=False) as client:
        for entry in state.get("services") or []:
            alive = process_matches(entry["pid"], entry.get("create_time"))
            detail = ""
            if alive:
                try:
                    code = client.get(entry["url"] + "/readyz").status_code
                    detail = "ready" if code == 200 else f"readyz {code}"
                except httpx.HTTPError:
                    detail = "not answering"
            rows.append(StatusRow(entry["name"], entry["pid"], alive, entry["url"], detail))
    return rows
