"""Ctrl-C in `riskwatch run`, as an operator presses it: the first stops the platform, and the
ones that follow while it stops neither print a traceback nor keep PostgreSQL from stopping."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from riskwatch.devstack._util import free_port
from riskwatch.devstack.pgserver import PostgresServer


class Run:
    """`riskwatch run` as its own process (its own session, like a terminal's job), output to
    files that the test reads while it runs."""

    def __init__(self, root: Path) -> None:
        self.data_dir = root / "data"
        self.out, self.err = root / "stdout", root / "stderr"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.process = subprocess.Popen(  # noqa: S603 - our own console script
                [str(Path(sys.executable).with_name("riskwatch")), "run", "--no-simulate"],
                env={
                    "RW_DATA_DIR": str(self.data_dir),
                    "RW_PORT": str(free_port()),
                    "RW_ADMIN_PASSWORD": secrets.token_urlsafe(12),
                    "PATH": str(Path(sys.executable).parent) + os.pathsep + "/usr/bin:/bin",
                },
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.out.read_text(errors="replace") + self.err.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"never saw {text!r}; output:\n{self.output()[-4000:]}")
            time.sleep(0.05)

    def interrupt_until_it_exits(self, timeout: float = 90) -> int:
        """Ctrl-C, then Ctrl-C again every 25 ms until the process is gone: the later ones land
        in every step of the shutdown (services, asyncio, PostgreSQL, interpreter exit)."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self.process.send_signal(signal.SIGINT)
            time.sleep(0.025)
        return self.process.wait(5)

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        PostgresServer(self.data_dir / "pg").stop(mode="immediate")


@pytest.fixture
def run() -> Iterator[Run]:
    platform = Run(Path(tempfile.mkdtemp(prefix="rw-signals-")))
    try:
        yield platform
    finally:
        platform.kill()


@pytest.mark.parametrize(
    "after",
    [
        "Ctrl-C stops everything",  # the banner: the services are serving
        "Migrating the schemas",  # still starting: PostgreSQL runs, the services do not yet
    ],
)
def test_repeated_ctrl_c_stops_quietly_and_stops_postgresql(run: Run, after: str) -> None:
    run.wait_for(after)
    code = run.interrupt_until_it_exits()
    output = run.output()
    assert code == 0, output[-4000:]
    assert "Traceback" not in output
    assert "KeyboardInterrupt" not in output
    assert "RiskWatch stopped; data kept in" in output
    assert not PostgresServer(run.data_dir / "pg").is_running()
