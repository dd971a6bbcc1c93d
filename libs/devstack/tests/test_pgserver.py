"""Tests for the embedded PostgreSQL wrapper: real server, real queries, restarts and crashes."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import psutil
import pytest

from riskwatch.devstack._util import DevstackError
from riskwatch.devstack.pgserver import PORT_FILE, PostgresServer, run_sql, with_database


@pytest.fixture
def scratch() -> Iterator[Path]:
    # mkdtemp, not tmp_path: the unprivileged postgres user must traverse the path.
    path = Path(tempfile.mkdtemp(prefix="rw-pgtest-"))
    yield path
    server = PostgresServer(path / "data")
    server.stop(mode="immediate")
    shutil.rmtree(path, ignore_errors=True)


async def _fetchval(url: str, sql: str) -> object:
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def test_session_server_answers_a_real_query(postgres_admin_url: str) -> None:
    assert postgres_admin_url.startswith("postgresql+asyncpg://")
    version = await _fetchval(postgres_admin_url, "SHOW server_version_num")
    assert isinstance(version, str)
    assert int(version) // 10000 == 18
    assert await _fetchval(postgres_admin_url, "SELECT 6 * 7") == 42


async def test_make_database_gives_isolated_databases(
    make_database: Callable[..., str],
) -> None:
    first, second = make_database(), make_database("other")
    assert first != second
    conn = await asyncpg.connect(first.replace("postgresql+asyncpg", "postgresql"))
    try:
        await conn.execute("CREATE TABLE only_here (x int)")
    finally:
        await conn.close()
    assert await _fetchval(first, "SELECT to_regclass('only_here') IS NOT NULL") is True
    assert await _fetchval(second, "SELECT to_regclass('only_here') IS NOT NULL") is False
    assert await _fetchval(second, "SELECT current_database()") == second.rsplit("/", 1)[1]


def test_restart_on_same_data_dir_keeps_data_and_port(scratch: Path) -> None:
    server = PostgresServer(scratch / "data", fast=True)
    server.start()
    port = server.port
    assert server.url("x") == f"postgresql+asyncpg://postgres@127.0.0.1:{port}/x"
    assert (scratch / "data" / PORT_FILE).read_text().strip() == str(port)
    server.create_database("keep_me")
    server.create_database("keep_me")  # idempotent
    db = server.url("keep_me", driver="postgresql")
    run_sql(db, "CREATE TABLE t (v text); INSERT INTO t VALUES ('survives')")
    server.stop()
    assert not server.is_running()

    again = PostgresServer(scratch / "data", fast=True)
    again.start()
    assert again.port == port
    assert run_sql(db, "SELECT v FROM t") == "survives"
    again.drop_database("keep_me")
    assert (
        run_sql(
            again.url(driver="postgresql"),
            "SELECT count(*) FROM pg_database WHERE datname = 'keep_me'",
        )
        == "0"
    )


def test_start_attaches_to_a_running_server(scratch: Path) -> None:
    owner = PostgresServer(scratch / "data", fast=True)
    owner.start()
    with PostgresServer(scratch / "data") as attached:
        assert attached.port == owner.port
        assert attached.pid == owner.pid
    # Leaving the context of a server it merely attached to must not stop it.
    assert owner.is_running()
    owner.stop()
    assert not owner.is_running()


def test_recovers_after_postmaster_is_sigkilled(scratch: Path) -> None:
    # Durable settings (fast=False): a committed row must survive the crash.
    server = PostgresServer(scratch / "data")
    server.start()
    server.create_database("crashy")
    db = server.url("crashy", driver="postgresql")
    run_sql(db, "CREATE TABLE t (v int); INSERT INTO t VALUES (7)")
    pid = server.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    psutil.Process(pid).wait(10) if psutil.pid_exists(pid) else None
    assert not server.is_running()
    assert (scratch / "data" / "postmaster.pid").exists()  # stale, left by the crash

    restarted = PostgresServer(scratch / "data")
    restarted.start()
    assert restarted.pid != pid
    assert restarted.port == server.port
    assert run_sql(db, "SELECT v FROM t") == "7"


def test_unsafe_database_names_are_rejected(scratch: Path) -> None:
    server = PostgresServer(scratch / "data", fast=True, port=None)
    with pytest.raises(ValueError):
        server.create_database('x"; DROP DATABASE postgres; --')


def test_stop_of_a_never_started_server_is_a_no_op(scratch: Path) -> None:
    server = PostgresServer(scratch / "data")
    server.stop()
    assert not server.is_running()
    with pytest.raises(DevstackError):
        _ = server.port


def test_with_database_keeps_credentials() -> None:
    url = with_database("postgresql://u:pw@db.example:6543/postgres?sslmode=disable", "app")
    assert url == "postgresql+asyncpg://u:pw@db.example:6543/app?sslmode=disable"
