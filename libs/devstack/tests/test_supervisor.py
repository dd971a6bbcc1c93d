"""Tests for the supervisor Stack and the CLI, with stand-in services instead of the real five."""

from __future__ import annotations

import json
import os
import random
import signal
import stat
import subprocess
import sys
import uuid
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil
import pytest

from riskwatch.devstack._util import DevstackError, free_port, port_is_free, process_matches
from riskwatch.devstack.pgserver import PostgresServer, run_sql, with_database
from riskwatch.devstack.supervisor import (
    SERVICES,
    SERVICES_PASSWORD_FILE,
    STATE_FILE,
    ServiceSpec,
    Stack,
    StackConfig,
    read_state,
    status,
    stop_from_state,
)

STANDIN = Path(__file__).parent / "standin_service.py"
COMMAND = (sys.executable, str(STANDIN), "{service}", "{action}")


def _specs() -> tuple[ServiceSpec, ...]:
    ports: set[int] = set()
    while len(ports) < len(SERVICES):
        ports.add(free_port())
    return tuple(replace(s, port=port) for s, port in zip(SERVICES, sorted(ports), strict=True))


def _config(tmp_path: Path, admin_url: str, bootstrap: str, **kw: object) -> StackConfig:
    return StackConfig(
        state_dir=tmp_path / "state",
        services=_specs(),
        command=COMMAND,
        database=f"rw_{uuid.uuid4().hex[:10]}",
        postgres_admin_url=admin_url,
        kafka_bootstrap=bootstrap,
        ready_timeout=30,
        **kw,  # type: ignore[arg-type]
    )


def _alive(pid: int) -> bool:
    return process_matches(pid, None)


def test_service_table_is_the_five_services_in_order() -> None:
    assert [(s.name, s.port) for s in SERVICES] == [
        ("ingest", 8001),
        ("alerting", 8002),
        ("workorder", 8003),
        ("notify", 8004),
        ("reporting", 8005),
    ]
    assert [s.name for s in SERVICES if s.builtin_issuer] == ["ingest"]
    assert [s.name for s in SERVICES if s.hosts_audit] == ["reporting"]


def test_stack_starts_services_with_their_environment_and_stops_them(
    tmp_path: Path,
    postgres_admin_url: str,
    kafka_bootstrap: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RW_LOG_LEVEL", "debug")  # caller's RW_* reach the services
    monkeypatch.setenv("RW_PORT", "1")  # ...but never flatten the per-service port
    config = _config(tmp_path, postgres_admin_url, kafka_bootstrap)
    stack = Stack(config)
    state = stack.start()
    try:
        migrated = (config.state_dir / "data" / "migrations.log").read_text().split()
        assert migrated == [s.name for s in config.services]
        # The stack's database exists on the server.
        assert (
            run_sql(
                with_database(postgres_admin_url, config.database, "postgresql"),
                "SELECT current_database()",
            )
            == config.database
        )

        for name in ("admin-password", SERVICES_PASSWORD_FILE):
            assert stat.S_IMODE((config.state_dir / name).stat().st_mode) == 0o600, name
        assert not (config.state_dir / "jwt-secret").exists()  # no shared token secret
        issuer_port = next(s.port for s in config.services if s.builtin_issuer)
        jwks_url = f"http://127.0.0.1:{issuer_port}/.well-known/jwks.json"

        for spec in config.services:
            env = httpx.get(f"http://127.0.0.1:{spec.port}/env").json()
            assert env["RW_PORT"] == str(spec.port)
            assert env["RW_ENV"] == "development"
            assert env["RW_BUS"] == "kafka"
            assert env["RW_HOST"] == "127.0.0.1"
            assert env["RW_SECTORS"] == "all"
            assert env["RW_KAFKA__BOOTSTRAP_SERVERS"] == kafka_bootstrap
            assert env["RW_DATABASE__URL"] == stack.services_database_url
            # Only the audit trail's host gets the owner, for its housekeeping alone.
            owner = env.get("RW_AUDIT__OWNER_URL")
            assert owner == (stack.database_url if spec.name == "reporting" else None)
            assert "RW_AUTH__JWT_SECRET" not in env
            assert env.get("RW_AUTH__JWKS_URL") == (None if spec.name == "ingest" else jwks_url)
            assert env["RW_AUTH__BUILTIN_ISSUER"] == str(spec.name == "ingest").lower()
            assert env["RW_DATA_DIR"] == str(config.state_dir / "data")
            assert env["RW_LOG_LEVEL"] == "debug"

        # The migrations ran as the owner, the services run as a role of their own.
        migrations = (config.state_dir / "data" / "migration-urls.log").read_text().splitlines()
        assert migrations == [f"{s.name} {stack.database_url}" for s in config.services]
        services_url = urlsplit(stack.services_database_url)
        assert services_url.username == stack.services_role == config.database
        assert (
            services_url.password == (config.state_dir / SERVICES_PASSWORD_FILE).read_text().strip()
        )
        assert (services_url.hostname, services_url.port, services_url.path) == (
            urlsplit(stack.database_url).hostname,
            urlsplit(stack.database_url).port,
            f"/{config.database}",
        )
        admin = with_database(postgres_admin_url, config.database, "postgresql")
        columns = "rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls"
        role = stack.services_role
        query = f"SELECT {columns} FROM pg_roles WHERE rolname = '{role}'"  # noqa: S608
        attributes = run_sql(admin, query)
        assert attributes == "t|f|f|f|f|f"

        recorded = read_state(config.state_dir)
        assert recorded is not None
        assert recorded["ready"] is True
        assert [s["name"] for s in recorded["services"]] == [s.name for s in config.services]
        pids = [s["pid"] for s in state["services"]]
        assert all(_alive(pid) for pid in pids)
        rows = status(config.state_dir)
        assert {r.name for r in rows if r.alive and r.detail == "ready"} == {
            s.name for s in config.services
        }
        with pytest.raises(DevstackError, match="still running"):
            Stack(config).start()
    finally:
        stack.stop()
    assert not any(_alive(pid) for pid in pids)
    assert not (config.state_dir / STATE_FILE).exists()
    # The external server and broker are not the stack's to stop.
    assert run_sql(with_database(postgres_admin_url, "postgres", "postgresql"), "SELECT 1") == "1"


def test_each_process_keeps_its_own_user_and_password_through_a_proxy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A developer's exported URLs do not make the services the owner again.
    monkeypatch.setenv("RW_DATABASE__URL", "postgresql+asyncpg://postgres@elsewhere:1/x")
    monkeypatch.setenv("RW_AUDIT__OWNER_URL", "postgresql+asyncpg://postgres@elsewhere:1/x")
    config = StackConfig(
        state_dir=tmp_path / "state",
        database="rw_proxied",
        postgres_admin_url="postgresql+asyncpg://postgres:owner-secret@127.0.0.1:5999/postgres",
        kafka_bootstrap="127.0.0.1:1",
        pg_proxy_port=6000,
    )
    stack = Stack(config)
    reporting = next(s for s in config.services if s.hosts_audit)
    ingest = next(s for s in config.services if s.name == "ingest")
    owner_via_proxy = "postgresql+asyncpg://postgres:owner-secret@127.0.0.1:6000/rw_proxied"

    served = stack.service_env(reporting)
    password = (config.state_dir / SERVICES_PASSWORD_FILE).read_text().strip()
    services_url = f"postgresql+asyncpg://rw_proxied:{password}@127.0.0.1:6000/rw_proxied"
    assert served["RW_DATABASE__URL"] == services_url == stack.services_database_url
    assert served["RW_AUDIT__OWNER_URL"] == owner_via_proxy
    assert stack.service_env(ingest)["RW_DATABASE__URL"] == services_url
    assert "RW_AUDIT__OWNER_URL" not in stack.service_env(ingest)
    migrating = stack.service_env(reporting, migrate=True)
    assert migrating["RW_DATABASE__URL"] == owner_via_proxy
    assert "RW_AUDIT__OWNER_URL" not in migrating
    # The stack's own checks go straight to the server, as the owner.
    assert stack.database_url == (
        "postgresql+asyncpg://postgres:owner-secret@127.0.0.1:5999/rw_proxied"
    )


def test_a_database_named_like_another_role_is_refused(tmp_path: Path) -> None:
    for database in ("postgres", "riskwatch_service"):
        stack = Stack(
            StackConfig(
                state_dir=tmp_path / database,
                database=database,
                postgres_admin_url="postgresql+asyncpg://postgres@127.0.0.1:5999/postgres",
            )
        )
        with pytest.raises(DevstackError, match="another role"):
            _ = stack.services_role


def test_fresh_stack_object_stops_from_state_file(
    tmp_path: Path, postgres_admin_url: str, kafka_bootstrap: str
) -> None:
    config = _config(tmp_path, postgres_admin_url, kafka_bootstrap)
    state = Stack(config).start()
    pids = [s["pid"] for s in state["services"]]
    # One service already died: `down` must tolerate it.
    psutil.Process(pids[0]).kill()
    psutil.Process(pids[0]).wait(10)
    stopped = stop_from_state(config.state_dir)
    assert stopped == [s.name for s in reversed(config.services)][:-1]
    assert not any(_alive(pid) for pid in pids)
    assert stop_from_state(config.state_dir) == []


def test_failed_migration_stops_loudly_before_any_service_starts(
    tmp_path: Path, postgres_admin_url: str, kafka_bootstrap: str
) -> None:
    config = _config(
        tmp_path, postgres_admin_url, kafka_bootstrap, env={"STANDIN_FAIL_MIGRATE": "alerting"}
    )
    stack = Stack(config)
    with pytest.raises(DevstackError, match="alerting") as info:
        stack.start()
    assert "migration failing on purpose" in str(info.value)
    migrated = (config.state_dir / "data" / "migrations.log").read_text().split()
    assert migrated == ["ingest", "alerting"]
    assert stack.processes == {}
    assert not (config.state_dir / STATE_FILE).exists()


def test_service_crash_during_start_stops_the_others(
    tmp_path: Path, postgres_admin_url: str, kafka_bootstrap: str
) -> None:
    config = _config(tmp_path, postgres_admin_url, kafka_bootstrap, env={"STANDIN_CRASH": "notify"})
    stack = Stack(config)
    with pytest.raises(DevstackError, match="notify exited") as info:
        stack.start()
    assert "crashing on purpose" in str(info.value)
    state_pids = [p for p in psutil.pids() if _cmdline_has(p, str(config.state_dir))]
    assert state_pids == []


def _cmdline_has(pid: int, needle: str) -> bool:
    try:
        return any(needle in part for part in psutil.Process(pid).environ().values())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


def _free_offset() -> int:
    """An offset that frees 8001..8008 + offset, below the kernel's ephemeral port range.

    Ports from bind(0) are ephemeral ones, which any outgoing connection may grab before
    a server binds them; a fixed block below 32768 does not race with those.
    """
    for _ in range(200):
        offset = random.randrange(12000, 24000, 10)
        if all(port_is_free(port + offset) for port in range(8001, 8009)):
            return offset
    raise AssertionError("no free port block for the stack")


def test_cli_up_status_down_with_own_postgres_and_kafka(
    tmp_path: Path, kafka_broker: object
) -> None:
    # kafka_broker: only so that the Kafka jars are known to be in the cache.
    state_dir = tmp_path / "state"
    offset = _free_offset()
    env = {
        **os.environ,
        "RW_PG_PORT": str(8006 + offset),
        "RW_KAFKA_PORT": str(8007 + offset),
        "RW_KAFKA_CONTROLLER_PORT": str(8008 + offset),
    }
    cli = [sys.executable, "-m", "riskwatch.devstack.cli"]
    command = f"{sys.executable} {STANDIN} {{service}} {{action}}"
    up = _run(
        cli,
        "up",
        "--state-dir",
        str(state_dir),
        "--service-command",
        command,
        "--port-offset",
        str(offset),
        env=env,
        timeout=300,
    )
    pids: list[int] = []
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert f"http://127.0.0.1:{8001 + offset}" in up.stdout
        state = json.loads((state_dir / STATE_FILE).read_text())
        pids = [s["pid"] for s in state["services"]] + [state["kafka"]["pid"]]
        # Everything outlives the `up` command.
        assert all(_alive(pid) for pid in pids)
        assert state["postgres"]["port"] == int(env["RW_PG_PORT"])
        assert state["kafka"]["bootstrap"] == f"127.0.0.1:{env['RW_KAFKA_PORT']}"
        assert httpx.get(f"http://127.0.0.1:{8003 + offset}/readyz").status_code == 200
        pg_url = state["postgres"]["url"].replace("+asyncpg", "")
        assert pg_url.endswith("/riskwatch")
        assert run_sql(pg_url, "SELECT current_database()") == "riskwatch"

        st = _run(cli, "status", "--state-dir", str(state_dir))
        assert st.returncode == 0, st.stdout + st.stderr
        assert st.stdout.count("(ready)") == 5
    finally:
        down = _run(cli, "down", "--state-dir", str(state_dir), timeout=120)
    assert down.returncode == 0, down.stderr
    assert "postgres" in down.stdout
    assert "kafka" in down.stdout
    assert not any(_alive(pid) for pid in pids)
    assert not _pg_running(state_dir / "pg")
    st = _run(cli, "status", "--state-dir", str(state_dir))
    assert st.returncode == 1
    assert "no stack recorded" in st.stdout


def _run(
    cli: list[str], *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own CLI
        [*cli, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _pg_running(data_dir: Path) -> bool:
    return PostgresServer(data_dir).is_running()


def test_faults_kill_freeze_and_start_a_service_again(
    tmp_path: Path, postgres_admin_url: str, kafka_bootstrap: str
) -> None:
    config = _config(tmp_path, postgres_admin_url, kafka_bootstrap)
    stack = Stack(config)
    stack.start()
    try:
        assert stack.starts == {s.name: 1 for s in config.services}
        first = stack.process("alerting").pid

        stack.signal_service("alerting", signal.SIGSTOP)
        assert psutil.Process(first).status() == psutil.STATUS_STOPPED
        stack.signal_service("alerting", signal.SIGCONT)
        assert psutil.Process(first).status() != psutil.STATUS_STOPPED

        stack.kill_service("alerting")
        assert not _alive(first)
        stack.start_service("alerting")
        second = stack.process("alerting").pid
        assert second != first
        assert httpx.get(stack.base_url("alerting") + "/readyz").status_code == 200
        assert stack.starts["alerting"] == 2
        recorded = read_state(config.state_dir)
        assert recorded is not None
        assert {s["name"]: s["pid"] for s in recorded["services"]}["alerting"] == second

        stack.start_service("alerting")  # already running: nothing happens
        assert stack.starts["alerting"] == 2
        with pytest.raises(DevstackError, match="does not manage"):
            stack.stop_kafka()

        stack.signal_service("notify", signal.SIGSTOP)  # stop() must reach a frozen process
        frozen = stack.process("notify").pid
    finally:
        stack.stop()
    assert not _alive(frozen)
    assert not _alive(second)
