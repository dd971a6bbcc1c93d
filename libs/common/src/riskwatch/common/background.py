"""The lifecycle every long-running component shares: start a task, wake it, stop it.

Subclasses implement `_run()` as a loop that checks `stopping` and waits with `_sleep()`;
`stop()` wakes the loop, lets it finish the round in hand (up to a timeout), then cancels.
"""

from __future__ import annotations

import asyncio
import contextlib


class BackgroundTask:
    def __init__(self, name: str) -> None:
        self.name = name
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
        self._task = asyncio.create_task(self._run(), name=self.name)

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
