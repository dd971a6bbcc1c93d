"""Admission of readings: a bound on batches in progress, and per-sector budgets.

Batches in progress: at most `RW_MAX_CONCURRENT_BATCHES` requests are handled at once in this
process; one more is refused at once with 429 and Retry-After, before it takes a database
connection, instead of queueing until its client times out (and then being stored anyway).

Per-sector ingest budgets: a bulkhead, so one sector's flood cannot starve the others.

Each sector may have a budget of readings per second in this process
(`RW_SECTOR_READINGS_PER_S`, e.g. `{"emergency": 12000}`; a sector without one is not
limited). A request whose readings would take a sector past its budget is refused whole with
429 and Retry-After, before anything is stored or published: the gateway keeps the readings
and sends them again, and resent readings are deduplicated. The budget counts readings over a
sliding one-second window (the `limits` library, in memory). With several ingest replicas of a
sector, each enforces its own budget, as each has its own CPU limit.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator, Mapping

from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from riskwatch.common.catalog import Catalog
from riskwatch.common.errors import TooManyRequests


class SectorOverBudget(TooManyRequests):
    code = "sector-over-budget"
    title = "The sector's ingest budget is spent for now"


class SectorBudgets:
    def __init__(self, readings_per_s: Mapping[str, int]) -> None:
        self._items = {
            sector: RateLimitItemPerSecond(rate) for sector, rate in readings_per_s.items()
        }
        self._limiter = SlidingWindowCounterRateLimiter(MemoryStorage())

    @classmethod
    def checked(cls, readings_per_s: Mapping[str, int], catalog: Catalog) -> SectorBudgets:
        """Budgets for sectors the catalog knows, or a ValueError naming the others."""
        unknown = sorted(s for s in readings_per_s if catalog.sector(s) is None)
        if unknown:
            raise ValueError(f"RW_SECTOR_READINGS_PER_S names unknown sectors: {unknown}")
        return cls(readings_per_s)

    async def admit(self, readings: Mapping[str, int]) -> None:
        """Take `readings[sector]` from each sector's budget, or take nothing and raise
        SectorOverBudget for the first sector that cannot pay."""
        wanted = [
            (sector, item, min(n, item.amount))  # a batch beyond a whole second's budget
            for sector, n in readings.items()  # takes that whole second, not forever
            if (item := self._items.get(sector)) is not None and n > 0
        ]
        for sector, item, cost in wanted:
            if not await self._limiter.test(item, sector, cost=cost):
                stats = await self._limiter.get_window_stats(item, sector)
                wait = max(1, math.ceil(stats.reset_time - time.time()))
                raise SectorOverBudget(
                    f"Sector {sector!r} takes at most {item.amount} readings/s here; "
                    f"send these again in {wait} s.",
                    retry_after_s=wait,
                    sector_id=sector,
                    readings_per_s=item.amount,
                )
        for sector, item, cost in wanted:
            await self._limiter.hit(item, sector, cost=cost)


class Overloaded(TooManyRequests):
    code = "overloaded"
    title = "Too many batches in progress"


class BatchSlots:
    """How many readings requests this process handles at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        if self.in_use >= self.limit:
            raise Overloaded(
                f"{self.in_use} batches are being handled here, the most this ingest takes; "
                "send it again in a second.",
                retry_after_s=1,
            )
        self.in_use += 1
        try:
            yield
        finally:
            self.in_use -= 1
