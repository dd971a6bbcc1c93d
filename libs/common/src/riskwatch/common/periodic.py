"""A background component that runs one coroutine every so often (housekeeping jobs)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger(__name__)


class Periodic:
    def __init__(
        self,
        name: str,
        job: Callable[[], Awaitable[object]],
        *,
        interval_s: float,
        run_at_start: bool = False,
    ) -> None:
        self.name = name
        self._job = job
        self._interval = interval_s
        self._run_at_start = run_at_start
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"periodic:{self.name}")

    async def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task

    async def _run(self) -> None:
        if not self._run_at_start and await self._wait():
            return
        while True:
            try:
                await self._job()
            except asyncio.CancelledError:
                raise
            except Exception:
                # A housekeeping failure must not kill the process; the next round retries.
                log.warning("periodic_job_failed", job=self.name, exc_info=True)
            if await self._wait():
                return

    async def _wait(self) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), self._interval)
        return self._stopping.is_set()
