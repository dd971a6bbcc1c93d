"""Fixtures of the end-to-end tests: the distributed stack as separate OS processes."""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from riskwatch.devstack._util import free_port
from riskwatch.devstack.supervisor import SERVICES, Stack, StackConfig

from .scenario import Urls


def _ports(n: int) -> list[int]:
    chosen: set[int] = set()
    while len(chosen) < n:
        chosen.add(free_port())
    return sorted(chosen)


@pytest.fixture(scope="module")
def distributed(postgres_admin_url: str, kafka_bootstrap: str) -> Iterator[tuple[Stack, str]]:
    """The five services, each its own OS process, on the session's Kafka and PostgreSQL."""
    password = secrets.token_urlsafe(12)
    services = tuple(
        replace(s, port=p) for s, p in zip(SERVICES, _ports(len(SERVICES)), strict=True)
    )
    state = Path(tempfile.mkdtemp(prefix="rw-e2e-"))
    config = StackConfig(
        state_dir=state,
        services=services,
        postgres_admin_url=postgres_admin_url,
        kafka_bootstrap=kafka_bootstrap,
        database=f"e2e_{secrets.token_hex(4)}",
        inherit_rw_env=False,
        env={
            "RW_ADMIN_PASSWORD": password,
            "RW_DEMO_PASSWORD": password,
            "RW_SEED_DEMO_ROSTER": "true",
            "RW_OUTBOX_POLL_INTERVAL_S": "0.2",
            "RW_LOG_LEVEL": "INFO",
        },
        ready_timeout=120,
    )
    stack = Stack(config)
    stack.start()
    try:
        yield stack, password
    finally:
        stack.stop()


def urls_of(stack: Stack) -> Urls:
    return Urls(**stack.urls)
