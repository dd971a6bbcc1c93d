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
from riskwatch.notify.duty.domain import CenterKind, OnDutyPerson, fallback_of
from riskwatch.notify.duty.models import DutyCenter

log = structlog.get_logger(__name__)


async def watch_check_ins(
    session: AsyncSession, *, now: datetime, grace: timedelta, tz: ZoneInfo
) -> int:
    """One pass, in the caller's transaction; the number of notices created."""
    created = 0
    district_id = await session.scalar(
        select(DutyCenter.duty_center_id).where(DutyCenter.kind == CenterKind.DISTRICT.value)
    )
    staffing = await duty.staffing_at(session, duty_center_ids=None, at=now, grace=grace)
    for missed in await duty.find_missed_check_ins(
        session, staffing=staffing, now=now, grace=grace
    ):
        fallback_people: list[OnDutyPerson] = []
        up = fallback_of(missed.center.ref(), district_id)
        if missed.leader is None and up in staffing:
            fallback_people = staffing[up].people
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
