"""Run a service with what-if patches applied: `bench/run.py --variant NAME[,NAME]` starts
every service through this file (StackConfig.command) instead of its console script.

For benchmark experiments only: each patch is a candidate change to libs/common, measured here
before anyone makes it for real. The services' code is not modified.

  no-pre-ping          the engine without pool_pre_ping (riskwatch.common.db.create_engine):
                       with asyncpg, SQLAlchemy's ping is BEGIN; ";"; ROLLBACK on every
                       checkout, three round trips per transaction.
  parallel-partitions  EventConsumer handles the partitions of one fetch concurrently (one
                       task each, one batch per partition as before) and commits their
                       offsets together, instead of one partition after another.

    python bench/variant.py no-pre-ping,parallel-partitions alerting serve
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Callable
from typing import Any


def no_pre_ping() -> None:
    import riskwatch.common.app as app_module
    from riskwatch.common import db

    original = db.create_engine

    def create_engine(settings: Any, **overrides: Any) -> Any:
        return original(settings, **{"pool_pre_ping": False, **overrides})

    app_module.create_engine = create_engine  # type: ignore[assignment]


def parallel_partitions() -> None:
    from riskwatch.common.bus import consumer as consumer_module

    cls = consumer_module.EventConsumer

    async def _run(self: Any) -> None:
        while not self._stopping.is_set():
            try:
                batches = await self._client.fetch(
                    max_records=self._settings.batch_max_records, timeout_s=0.5
                )
                self._busy = True
                await asyncio.gather(*(self._consume(m) for m in batches.values()))
                if batches:
                    await self._client.commit({tp: m[-1].offset + 1 for tp, m in batches.items()})
            except asyncio.CancelledError:
                if self._stopping.is_set():
                    return
                raise
            except Exception as exc:
                self.last_error = type(exc).__name__
                await self._sleep(1.0)
            finally:
                self._busy = False

    cls._run = _run  # type: ignore[method-assign]


PATCHES: dict[str, Callable[[], None]] = {
    "none": lambda: None,
    "no-pre-ping": no_pre_ping,
    "parallel-partitions": parallel_partitions,
}


def main() -> int:
    names, service, action = sys.argv[1], sys.argv[2], sys.argv[3]
    for name in names.split(","):
        PATCHES[name]()
    entry = importlib.import_module(f"riskwatch.{service}.__main__")
    sys.argv = [f"riskwatch-{service}", action]
    result: int = entry.main()
    return result


if __name__ == "__main__":
    raise SystemExit(main())
