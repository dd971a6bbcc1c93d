"""The escalator: a periodic job that fires the escalation steps whose wait is over. The timers
are rows (escalation.next_step_at), so a process killed during a wait loses nothing: whichever
notify process looks next fires the step, once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.notify.escalation.service import advance_due
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
    """One pass: batches of due escalations, each batch in its own transaction, until none is
    due; then wake the dispatcher for the notifications they created."""

    async def run() -> None:
        moved_any = False
        while True:
            async with sessions() as session, session.begin():
                moved = await advance_due(
                    session, now=clock(), limit=batch_size, grace=grace, caps=caps
                )
            moved_any = moved_any or moved > 0
            if moved < batch_size:
                break
        if moved_any:
            after()

    return run
