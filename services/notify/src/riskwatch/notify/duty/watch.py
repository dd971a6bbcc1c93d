"""The check-in watch: every few seconds, centers where nobody checked in `grace` after their
shift started get a duty alert and their leader is told (once per shift). Routing reads the same
state, so from that moment their alarms also go to the next level up."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.notify.duty import notices
from riskwatch.notify.duty import service as duty
from riskwatch.notify.duty.domain import CenterKind, fallback_of
from riskwatch.notify.duty.models import DutyCenter, Person

log = structlog.get_logger(__name__)


async def watch_check_ins(
    session: AsyncSession, *, now: datetime, grace: timedelta, tz: ZoneInfo
) -> int:
    """One pass, in the caller's transaction; the number of notices created."""
    created = 0
    for missed in await duty.find_missed_check_ins(session, now=now, grace=grace):
        fallback_people: list[Person] = []
        if missed.leader is None:
            district = await session.scalar(
                select(DutyCenter.duty_center_id).where(
                    DutyCenter.kind == CenterKind.DISTRICT.value
                )
            )
            up = fallback_of(missed.center.ref(), district)
            if up is not None:
                staffing = await duty.staffing_at(
                    session, duty_center_ids=[up], at=now, grace=grace
                )
                people_ids = [p.person_id for p in staffing[up].people] if up in staffing else []
                fallback_people = [
                    p for p in [await session.get(Person, i) for i in people_ids] if p is not None
                ]
        ids = await notices.notify_missed(
            session, missed=missed, fallback_people=fallback_people, grace=grace, tz=tz, now=now
        )
        created += len(ids)
        log.info(
            "check_in_missed",
            duty_center_id=missed.center.duty_center_id,
            shift_id=missed.shift.shift_id,
            leader=missed.leader.person_id if missed.leader else None,
            notices=len(ids),
        )
    return created


def check_in_watch(
    sessions: async_sessionmaker[AsyncSession],
    *,
    grace: timedelta,
    tz: ZoneInfo,
    clock: Callable[[], datetime],
    after: Callable[[], None],
) -> Callable[[], Awaitable[None]]:
    """The periodic job: one pass in its own transaction, then wake the dispatcher."""

    async def run() -> None:
        async with sessions() as session, session.begin():
            created = await watch_check_ins(session, now=clock(), grace=grace, tz=tz)
        if created:
            after()

    return run
