"""Small helpers shared by the devstack modules: free ports, log tails, process-group signals."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import psutil

LOCALHOST = "127.0.0.1"


class DevstackError(RuntimeError):
    """A piece of local infrastructure could not be started or stopped."""


def free_port(host: str = LOCALHOST) -> int:
    """Return a TCP port the kernel considers free right now on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int, host: str = LOCALHOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Without SO_REUSEADDR a port in TIME_WAIT from our own last run would look taken,
        # although a server (which sets it too) can bind it fine.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def can_connect(port: int, host: str = LOCALHOST, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file, or a note that it is missing."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            # Logs can be large; the tail is all anyone reads in an error message.
            fh.seek(max(0, size - 64 * 1024))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError as exc:
        return f"<no log at {path}: {exc}>"
    return "\n".join(text.splitlines()[-lines:])


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes a child get SIGKILL when this process dies (Linux only).

    Test sessions use it so that a hard-killed pytest does not leave a JVM behind.
    """
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return None
    pr_set_pdeathsig = 1

    def _preexec() -> None:
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)

    return _preexec


def process_matches(pid: int, create_time: float | None) -> bool:
    """True if ``pid`` is alive and, when given, was created at ``create_time``.

    The create time guards against signalling an unrelated process that reused a recorded pid.
    """
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        if create_time is not None and abs(proc.create_time() - create_time) > 1.0:
            return False
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    return True


def create_time_of(pid: int) -> float | None:
    try:
        value: float = psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return value


def _signal_group(pgid: int, sig: signal.Signals) -> bool:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True


def terminate_group(
    pid: int,
    *,
    timeout: float,
    create_time: float | None = None,
    wait: Callable[[float], bool] | None = None,
) -> None:
    """SIGTERM the process group led by ``pid``, then SIGKILL it if it outlives ``timeout``.

    ``wait(seconds)`` returns True once the leader has exited; by default psutil polls for it,
    which also works for processes that are not our children (e.g. after ``up`` returned).
    """
    if not process_matches(pid, create_time):
        if not psutil.pid_exists(pid):
            # Leader gone: still sweep stragglers left in its group (a service's children).
            # Skipped when the pid now belongs to someone else, whose group it may lead.
            _signal_group(pid, signal.SIGKILL)
        return
    waiter = wait or (lambda seconds: _wait_gone(pid, seconds))
    _signal_group(pid, signal.SIGTERM)
    if not waiter(timeout):
        _signal_group(pid, signal.SIGKILL)
        waiter(10.0)
    _signal_group(pid, signal.SIGKILL)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process_matches(pid, None):
            return True
        with contextlib.suppress(ChildProcessError, OSError):
            # Reap it if it happens to be our own child, so it stops showing up as a zombie.
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done == pid:
                return True
        time.sleep(0.05)
    return not process_matches(pid, None)
