"""The escalator: a periodic job that fires the escalation steps whose wait is over. The timers
are rows (escalation.next_step_at), so a process killed during a wait loses nothing: whichever
notify process looks next fires the step, once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.notify.escalation.service import advance_one
from riskwatch.notify.notifications.storm import StormCaps


def escalator(
    sessions: async_sessionmaker[AsyncSession],
    *,
    grace: timedelta,
    clock: Callable[[], datetime],
    after: Callable[[], None],
    caps: StormCaps,
    batch_size: int = 50,
) -> Callable[[], Awaitable[None]]:
    """One pass: the due escalations, each in its own transaction, until none is due (at most
    `batch_size` before the dispatcher is woken for what they created, then on)."""

    async def run() -> None:
        while True:
            moved = 0
            while moved < batch_size:
                async with sessions() as session, session.begin():
                    if not await advance_one(session, now=clock(), grace=grace, caps=caps):
                        break
                moved += 1
            if moved:
                after()
            if moved < batch_size:
                return

    return run
