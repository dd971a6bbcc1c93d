"""Background components are supervised: a crash is restarted after a backoff, a component
that keeps crashing is marked failed once (liveness then fails and the app stops the process),
and a stop while it waits to restart ends it at once."""

from __future__ import annotations

import asyncio

from riskwatch.common.background import BackgroundTask, Health, run_supervised


async def test_a_crash_is_restarted_and_a_clean_return_ends_it() -> None:
    calls: list[int] = []

    async def run() -> None:
        calls.append(len(calls))
        if len(calls) < 3:
            raise RuntimeError("boom")

    health = Health()
    await run_supervised("t", run, stopping=asyncio.Event(), health=health, backoff_initial_s=0.001)
    assert calls == [0, 1, 2]
    assert (health.crashes, health.failed, health.last_error) == (2, False, "RuntimeError")


async def test_a_component_that_keeps_crashing_fails_once_and_says_so() -> None:
    failed: list[str] = []
    health = Health(on_failed=lambda: failed.append("stop the process"))

    async def run() -> None:
        raise ValueError("always")

    await run_supervised(
        "t",
        run,
        stopping=asyncio.Event(),
        health=health,
        restart_limit=4,
        backoff_initial_s=0.001,
    )
    assert health.failed
    assert health.crashes == 4
    assert failed == ["stop the process"]


async def test_crashes_far_apart_do_not_add_up() -> None:
    health = Health()
    calls = 0

    async def run() -> None:
        nonlocal calls
        calls += 1
        if calls <= 6:
            raise RuntimeError("now and then")

    # healthy_after_s=0: each run counts as having run long enough, so no streak builds up.
    await run_supervised(
        "t",
        run,
        stopping=asyncio.Event(),
        health=health,
        restart_limit=2,
        healthy_after_s=0.0,
        backoff_initial_s=0.001,
    )
    assert not health.failed
    assert health.crashes == 6


class Crashy(BackgroundTask):
    def __init__(self) -> None:
        super().__init__("crashy")
        self.crashed = asyncio.Event()

    async def _run(self) -> None:
        self.crashed.set()
        raise RuntimeError("first round crashes, and every one after")


async def test_stop_ends_a_component_waiting_to_restart() -> None:
    component = Crashy()
    await component.start()
    await asyncio.wait_for(component.crashed.wait(), 10)
    await asyncio.wait_for(component.stop(), 10)
    assert not component.running
    assert component.health.crashes >= 1
