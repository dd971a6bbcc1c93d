"""One work order per alarm when two consumers handle the same AlarmRaised at the same time
(a redelivery racing the first delivery, a rebalance): the unique alarm id decides."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from riskwatch.common.catalog import load_catalog
from riskwatch.common.testing import migrate
from riskwatch.workorder.manual.service import ManualCache
from riskwatch.workorder.module import MIGRATIONS
from riskwatch.workorder.settings import WorkOrderSettings
from riskwatch.workorder.workorders.models import WorkOrder
from riskwatch.workorder.workorders.service import Loop, open_work_order

from .. import factories as f


async def test_two_deliveries_at_once_open_one_work_order(
    make_database: Callable[[str], str],
) -> None:
    url = make_database("workorder_concurrent")
    await migrate(url, [MIGRATIONS])
    engine = create_async_engine(url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    loop = Loop(
        policy=WorkOrderSettings().disposal_deadlines.policy(),
        manual=ManualCache(),
        remind_fraction=0.8,
        catalog=load_catalog(),
    )
    alarm = f.alarm()
    ready = asyncio.Barrier(2)

    async def deliver() -> bool:
        async with sessions() as session, session.begin():
            await ready.wait()  # both transactions are open before either inserts
            opened = await open_work_order(
                session, alarm=alarm, loop=loop, now=datetime.now(UTC), traceparent=None
            )
            await asyncio.sleep(0.2)  # hold the transaction: the other insert must wait
            return opened is not None

    try:
        results = await asyncio.gather(deliver(), deliver())
        async with sessions() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(WorkOrder)
                .where(WorkOrder.alarm_id == alarm.alarm_id)
            )
    finally:
        await engine.dispose()
    assert sorted(results) == [False, True]
    assert count == 1
