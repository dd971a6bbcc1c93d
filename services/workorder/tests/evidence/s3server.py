"""A real S3-compatible server for tests: Versity's S3 gateway (versitygw) over a temporary
directory, on 127.0.0.1 and a free port, built once by scripts/fetch-versitygw."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

FETCH = Path(__file__).resolve().parents[4] / "scripts" / "fetch-versitygw"
ACCESS_KEY = "evidence-test"
SECRET_KEY = "evidence-test-secret"  # a throwaway credential of a server that lives for a test


@dataclass(frozen=True, slots=True)
class S3Server:
    endpoint_url: str
    root: Path  # the gateway's files: <root>/<bucket>/<key>
    access_key_id: str = ACCESS_KEY
    secret_access_key: str = SECRET_KEY


def versitygw_binary() -> Path:
    """The built gateway, building it on first use. Nothing is skipped (the devstack plugin's
    rule): without Go the S3 tests fail and say so."""
    if shutil.which("go") is None and not Path("/usr/local/go/bin/go").exists():
        pytest.fail("Go is not installed: cannot build versitygw (scripts/fetch-versitygw)")
    built = subprocess.run(  # noqa: S603 - our own script, no shell
        [str(FETCH)], check=True, capture_output=True, text=True, timeout=900
    )
    return Path(built.stdout.strip().splitlines()[-1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@contextmanager
def running_versitygw(directory: Path) -> Iterator[S3Server]:
    binary = versitygw_binary()
    root, meta = directory / "root", directory / "meta"
    root.mkdir()
    meta.mkdir()
    port = _free_port()
    log = (directory / "versitygw.log").open("wb")
    process = subprocess.Popen(  # noqa: S603
        [
            str(binary),
            "--access",
            ACCESS_KEY,
            "--secret",
            SECRET_KEY,
            "--port",
            f"127.0.0.1:{port}",
            "--quiet",
            "posix",
            # Metadata beside the objects, not in extended attributes (tmpfs lacks user xattrs).
            "--sidecar",
            str(meta),
            str(root),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        # Bounded wait for the port: fails only if the gateway never listens.
        for _ in range(600):
            if process.poll() is not None:
                raise RuntimeError(
                    f"versitygw exited with {process.returncode}: "
                    + (directory / "versitygw.log").read_text(errors="replace")[-2000:]
                )
            if _listening(port):
                break
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.1)
        else:
            raise RuntimeError("versitygw did not listen within 60 s")
        yield S3Server(endpoint_url=f"http://127.0.0.1:{port}", root=root)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
