"""Background jobs of the closed loop. The timers are columns of the order rows
(next_timer_at), so a process killed while waiting loses nothing: whichever workorder process
looks next fires the timer, once (the row's flags change in the transaction that stages the
event)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.workorder.workorders.bulletin import last_week, publish_bulletin
from riskwatch.workorder.workorders.service import SYSTEM_ACTOR, fire_one_timer


def timer_job(
    sessions: async_sessionmaker[AsyncSession],
    *,
    fraction: float,
    clock: Callable[[], datetime],
    batch_size: int,
) -> Callable[[], Awaitable[int]]:
    """One pass: fire due timers, one order per transaction, at most `batch_size`."""

    async def run() -> int:
        fired = 0
        while fired < batch_size:
            async with sessions() as session, session.begin():
                if not await fire_one_timer(session, now=clock(), fraction=fraction):
                    break
            fired += 1
        return fired

    return run


def bulletin_job(
    sessions: async_sessionmaker[AsyncSession], *, tz: ZoneInfo, clock: Callable[[], datetime]
) -> Callable[[], Awaitable[bool]]:
    """Last week's bulletin, if it is not out yet: from Monday 00:00 local, once."""

    async def run() -> bool:
        now = clock()
        start, end = last_week(now, tz)
        async with sessions() as session, session.begin():
            _, published = await publish_bulletin(
                session, week_start=start, week_end=end, now=now, actor=SYSTEM_ACTOR
            )
        return published

    return run
