"""End to end in the distributed mode: a real Kafka broker, real PostgreSQL, each of the five
services a separate OS process started with its own console script."""

from __future__ import annotations

import pytest

from riskwatch.devstack.supervisor import Stack

from .conftest import urls_of
from .scenario import login, run_one_path

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]


async def test_one_reading_crosses_every_service_to_the_report(
    distributed: tuple[Stack, str],
) -> None:
    stack, password = distributed
    assert len({p.pid for p in stack.processes.values()}) == 5  # five separate processes
    urls = urls_of(stack)
    headers = await login(urls, password)
    await run_one_path(urls, headers)
    for name, process in stack.processes.items():
        assert process.is_alive(), f"{name} died during the scenario"
