"""A background component that runs one coroutine every so often (housekeeping jobs)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from riskwatch.common.background import BackgroundTask

log = structlog.get_logger(__name__)


class Periodic(BackgroundTask):
    def __init__(
        self,
        name: str,
        job: Callable[[], Awaitable[object]],
        *,
        interval_s: float,
        run_at_start: bool = False,
    ) -> None:
        super().__init__(f"periodic:{name}")
        self._job = job
        self._interval = interval_s
        self._run_at_start = run_at_start

    async def _run(self) -> None:
        if not self._run_at_start and await self._sleep(self._interval):
            return
        while True:
            self._wake.clear()
            try:
                await self._job()
            except asyncio.CancelledError:
                raise
            except Exception:
                # A housekeeping failure must not kill the process; the next round retries.
                log.warning("periodic_job_failed", job=self.name, exc_info=True)
            if await self._sleep(self._interval):
                return
