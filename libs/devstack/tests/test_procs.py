"""Tests for ServiceProcess with a stand-in HTTP service."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from riskwatch.devstack._util import DevstackError, free_port, port_is_free
from riskwatch.devstack.procs import ServiceProcess

STANDIN = Path(__file__).parent / "standin_service.py"


def _service(tmp_path: Path, name: str = "ingest", **extra_env: str) -> ServiceProcess:
    port = free_port()
    env = {**os.environ, "RW_PORT": str(port), "RW_HOST": "127.0.0.1", **extra_env}
    return ServiceProcess(
        name,
        [sys.executable, str(STANDIN), name, "serve"],
        env=env,
        log_path=tmp_path / "logs" / f"{name}.log",
        ready_url=f"http://127.0.0.1:{port}/readyz",
        die_with_parent=True,
    )


def test_start_ready_stop(tmp_path: Path) -> None:
    proc = _service(tmp_path, STANDIN_READY_DELAY="0.5")
    proc.start()
    try:
        proc.wait_ready(timeout=30)
        assert proc.is_alive()
        assert psutil.Process(proc.pid).is_running()
        assert proc.ready_url is not None
        body = httpx.get(proc.ready_url).json()
        assert body == {"service": "ingest", "ready": True}
    finally:
        code = proc.stop(timeout=15)
    assert not proc.is_alive()
    assert code is not None
    assert not psutil.pid_exists(proc.pid) or psutil.Process(proc.pid).status() == "zombie"
    port = int(proc.env["RW_PORT"])
    assert port_is_free(port)
    assert "ingest serving on" in proc.log_path.read_text()


def test_early_exit_raises_with_log_tail(tmp_path: Path) -> None:
    proc = _service(tmp_path, STANDIN_CRASH="ingest")
    proc.start()
    with pytest.raises(DevstackError, match="exited with code 4") as info:
        proc.wait_ready(timeout=30)
    assert "crashing on purpose" in str(info.value)


def test_never_ready_times_out_with_log_tail(tmp_path: Path) -> None:
    proc = _service(tmp_path, STANDIN_READY_DELAY="600")
    proc.start()
    try:
        # Serving (and answering 503) first, however slow the machine is to start it: the
        # short wait below is then about readiness only.
        deadline = time.monotonic() + 60
        while "serving on" not in _log(proc) and time.monotonic() < deadline:
            time.sleep(0.05)
        with pytest.raises(DevstackError, match="not ready") as info:
            proc.wait_ready(timeout=1.5)
        assert "HTTP 503" in str(info.value)
        assert "serving on" in str(info.value)
    finally:
        proc.stop()


def test_stop_escalates_to_sigkill_and_reaches_grandchildren(tmp_path: Path) -> None:
    child_file = tmp_path / "child.pid"
    proc = _service(tmp_path, STANDIN_IGNORE_TERM="1", STANDIN_CHILD_PID_FILE=str(child_file))
    proc.start()
    proc.wait_ready(timeout=30)
    deadline = time.monotonic() + 10
    while not child_file.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    grandchild = psutil.Process(int(child_file.read_text()))
    assert grandchild.is_running()

    code = proc.stop(timeout=1)
    assert code == -9  # SIGTERM was ignored
    grandchild_gone = psutil.wait_procs([grandchild], timeout=10)[0]
    assert grandchild_gone or grandchild.status() == psutil.STATUS_ZOMBIE


def test_kill_is_immediate_sigkill(tmp_path: Path) -> None:
    proc = _service(tmp_path)
    proc.start()
    proc.wait_ready(timeout=30)
    proc.kill()
    assert proc.returncode == -9
    assert not proc.is_alive()


def test_missing_executable_is_reported(tmp_path: Path) -> None:
    proc = ServiceProcess(
        "ghost", ["/nonexistent/riskwatch-ghost", "serve"], env={}, log_path=tmp_path / "g.log"
    )
    with pytest.raises(DevstackError, match="cannot start ghost"):
        proc.start()
    with pytest.raises(DevstackError):
        _ = proc.pid


def _log(proc: ServiceProcess) -> str:
    return proc.log_path.read_text() if proc.log_path.exists() else ""
