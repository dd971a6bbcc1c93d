"""Shared facts for the deployment tests: where the repository is, the services and their ports."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Each service's HTTP port (RW_PORT), the same in its image, compose and Kubernetes.
SERVICE_PORTS: dict[str, int] = {
    "ingest": 8001,
    "alerting": 8002,
    "workorder": 8003,
    "notify": 8004,
    "reporting": 8005,
}


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def service_ports() -> dict[str, int]:
    return dict(SERVICE_PORTS)
