"""Launch and supervise one OS process (a service) in its own process group, with readiness."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

import httpx

from riskwatch.devstack._util import DevstackError, tail
from riskwatch.devstack._util import die_with_parent as _pdeathsig_preexec


class ServiceProcess:
    """A child process whose output goes to ``log_path`` and whose group we can signal."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        log_path: Path,
        ready_url: str | None = None,
        cwd: Path | None = None,
        die_with_parent: bool = False,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.log_path = Path(log_path)
        self.ready_url = ready_url
        self.cwd = cwd
        self.die_with_parent = die_with_parent
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise DevstackError(f"{self.name} was not started")
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    def is_alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        if self.is_alive():
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            out.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} start {self.argv}\n".encode())
            out.flush()
            try:
                self._proc = subprocess.Popen(  # noqa: S603 - argv comes from our own caller
                    self.argv,
                    env=self.env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=self.cwd,
                    # New session: the process (and whatever it forks) forms a group we can
                    # signal as a whole, and it survives the exit of a CLI that started it.
                    start_new_session=True,
                    preexec_fn=_pdeathsig_preexec() if self.die_with_parent else None,
                )
            except OSError as exc:
                raise DevstackError(f"cannot start {self.name} ({self.argv[0]}): {exc}") from exc

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Poll ``ready_url`` until it answers 200; raise with the log tail on timeout or exit."""
        deadline = time.monotonic() + timeout
        last = "no answer yet"
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while True:
                if not self.is_alive():
                    raise DevstackError(
                        f"{self.name} exited with code {self.returncode} before it was ready\n"
                        f"--- {self.log_path} ---\n{tail(self.log_path)}"
                    )
                if self.ready_url is None:
                    return
                try:
                    response = client.get(self.ready_url)
                    if response.status_code == 200:
                        return
                    last = f"HTTP {response.status_code}: {response.text[:200]}"
                except httpx.HTTPError as exc:
                    last = f"{type(exc).__name__}: {exc}"
                if time.monotonic() >= deadline:
                    raise DevstackError(
                        f"{self.name} not ready at {self.ready_url} after {timeout}s ({last})\n"
                        f"--- {self.log_path} ---\n{tail(self.log_path)}"
                    )
                time.sleep(0.1)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM the process group, SIGKILL it after ``timeout``; return the exit code."""
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            self._signal(signal.SIGTERM)
            self._signal(signal.SIGCONT)  # a frozen (SIGSTOPped) process handles it too
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                proc.wait(10)
        # The leader is gone; children it forked may linger in its group.
        self._signal(signal.SIGKILL)
        return proc.returncode

    def kill(self) -> None:
        """SIGKILL the whole process group now."""
        proc = self._proc
        if proc is None:
            return
        self._signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)

    def send_signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the whole process group (e.g. SIGSTOP, SIGCONT); no-op once gone."""
        if self.is_alive():
            self._signal(sig)

    def _signal(self, sig: signal.Signals) -> None:
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, sig)

    def __enter__(self) -> ServiceProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
