"""Fixtures of the evidence tests: a real S3-compatible server for the S3 store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .s3server import S3Server, running_versitygw


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with running_versitygw(tmp_path_factory.mktemp("versitygw")) as server:
        yield server


@pytest.fixture
def evidence_dir(tmp_path: Path) -> Path:
    return tmp_path / "evidence"
