"""The demo roster: idempotent, and someone on duty around the clock where it promises."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common.catalog import default_catalog
from riskwatch.notify.duty.demo import seed_demo_roster
from riskwatch.notify.duty.models import DutyCenter, Person, Shift
from riskwatch.notify.duty.service import on_duty_at


async def counts(session: AsyncSession) -> tuple[int, ...]:
    return tuple(
        [
            await session.scalar(select(func.count()).select_from(model)) or 0
            for model in (DutyCenter, Person, Shift)
        ]
    )


async def test_the_demo_roster_is_idempotent_and_always_staffed(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    catalog = default_catalog()
    now = datetime(2026, 11, 1, 19, 30, tzinfo=UTC)  # 03:30 in Shanghai
    await seed_demo_roster(sessions, catalog, now, timezone="Asia/Shanghai")
    async with sessions() as session:
        first = await counts(session)
    await seed_demo_roster(sessions, catalog, now, timezone="Asia/Shanghai")
    async with sessions() as session:
        assert await counts(session) == first
        centers = 1 + len(catalog.sectors) + len(catalog.towns)
        assert first[0] == centers
        staffed = ["district", *(f"sector-{s.id}" for s in catalog.sectors)]
        staffed += [f"street-{t}" for t in ("lujiazui", "zhangjiang", "chuansha", "huinan")]
        # Every hour from now to a week ahead: exactly one person per staffed center.
        for hour in range(0, 7 * 24):
            at = now + timedelta(hours=hour)
            on_duty = await on_duty_at(session, duty_center_ids=[*staffed, "street-gaoqiao"], at=at)
            assert sorted(on_duty) == sorted(staffed), at
            assert all(len(people) == 1 for people in on_duty.values())
        night = await on_duty_at(session, duty_center_ids=["street-lujiazui"], at=now)
        day = await on_duty_at(
            session, duty_center_ids=["street-lujiazui"], at=now + timedelta(hours=12)
        )
        assert night["street-lujiazui"][0].person_id != day["street-lujiazui"][0].person_id
        assert night["street-lujiazui"][0].phone.startswith("+86100")
    # A later start adds the days that are new and keeps the rest.
    await seed_demo_roster(sessions, catalog, now + timedelta(days=3), timezone="Asia/Shanghai")
    async with sessions() as session:
        later = await counts(session)
    assert later[:2] == first[:2]
    assert later[2] == first[2] + 3 * 2 * 12  # three more days x two shifts x twelve centers
