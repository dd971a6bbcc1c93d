"""The session fixtures fail (never skip) with a clear message when a server is unusable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

INNER_TEST = """
def test_needs_postgres(postgres_admin_url):
    assert postgres_admin_url

def test_needs_kafka(kafka_bootstrap):
    assert kafka_bootstrap
"""


def _inner_pytest(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_inner.py").write_text(INNER_TEST)
    return subprocess.run(  # noqa: S603 - our own interpreter
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "riskwatch.devstack.pytest_plugin",
            "-p",
            "no:cacheprovider",
            "-rA",
            "-c",
            str(tmp_path / "pytest.ini"),
            str(tmp_path / "test_inner.py"),
        ],
        cwd=tmp_path,
        env={**os.environ, "CI": "true", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("RW_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:1/postgres"),
        ("RW_TEST_KAFKA_BOOTSTRAP", "127.0.0.1:1"),
    ],
)
def test_unusable_server_fails_the_fixture_instead_of_skipping(
    tmp_path: Path, variable: str, value: str
) -> None:
    # Point the other fixture at the same dead port so no real server starts in the inner run.
    env = {
        "RW_TEST_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/postgres",
        "RW_TEST_KAFKA_BOOTSTRAP": "127.0.0.1:1",
        variable: value,
    }
    result = _inner_pytest(tmp_path, **env)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "2 errors" in out
    assert "skipped" not in out
    assert f"{variable}={value} is set but unusable" in out
