"""The lifecycle every long-running component shares: start a task, wake it, stop it, and
supervise it.

Subclasses implement `_run()` as a loop that checks `stopping` and waits with `_sleep()`;
`stop()` wakes the loop, lets it finish the round in hand (up to a timeout), then cancels.
A crash of `_run()` is logged at ERROR with its exception and the loop is restarted after a
backoff; after `RESTART_LIMIT` crashes in a row (none running `HEALTHY_AFTER_S` before the
next) the component is `failed`: liveness fails and `Health.on_failed` is called, which the
app uses to stop the process so that its orchestrator starts a fresh one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog

from riskwatch.common import metrics
from riskwatch.common.retry import backoff

log = structlog.get_logger(__name__)

RESTART_LIMIT = 5
HEALTHY_AFTER_S = 60.0


def _nothing() -> None:
    return None


@dataclass
class Health:
    """What a supervised component reports about itself."""

    crashes: int = 0  # since the process started
    failed: bool = False  # gave up restarting: liveness fails
    last_error: str | None = None
    on_failed: Callable[[], None] = field(default=_nothing)


async def run_supervised(
    name: str,
    run: Callable[[], Awaitable[None]],
    *,
    stopping: asyncio.Event,
    health: Health,
    restart_limit: int = RESTART_LIMIT,
    healthy_after_s: float = HEALTHY_AFTER_S,
    backoff_initial_s: float = 0.5,
    backoff_max_s: float = 30.0,
) -> None:
    """Run `run()` until it returns (it returns when `stopping` is set), restarting it when it
    raises; give up after `restart_limit` crashes in a row."""
    loop = asyncio.get_running_loop()
    in_a_row = 0
    while not stopping.is_set():
        started = loop.time()
        try:
            await run()
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if stopping.is_set():
                return
            in_a_row = 1 if loop.time() - started >= healthy_after_s else in_a_row + 1
            health.crashes += 1
            health.last_error = type(exc).__name__
            metrics.COMPONENT_CRASHES.labels(name).inc()
            if in_a_row >= restart_limit:
                health.failed = True
                log.critical("component_failed", component=name, crashes=in_a_row, exc_info=exc)
                health.on_failed()
                return
            delay = backoff(in_a_row, initial=backoff_initial_s, maximum=backoff_max_s)
            log.error(
                "component_crashed",
                component=name,
                crashes=in_a_row,
                restart_in_s=round(delay, 2),
                exc_info=exc,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), delay)


class BackgroundTask:
    def __init__(self, name: str) -> None:
        self.name = name
        self.health = Health()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(
            run_supervised(self.name, self._run, stopping=self._stopping, health=self.health),
            name=self.name,
        )

    async def stop(self, timeout: float = 10.0) -> None:
        """Finish the round in hand (up to `timeout`), then release what `_closed` releases."""
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
        await self._closed()

    def wake(self) -> None:
        """Run the next round now instead of at the end of the current wait."""
        self._wake.set()

    async def _sleep(self, seconds: float) -> bool:
        """Wait for a wake-up, `seconds`, or stop; True when stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        return self._stopping.is_set()

    async def _run(self) -> None:
        raise NotImplementedError

    async def _closed(self) -> None:
        """After the loop has ended: close connections, files, clients."""
