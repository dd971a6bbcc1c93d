"""The weekly overdue bulletin over HTTP: published once per week, on demand for a past week,
refused for a week in progress; the event goes out once for notify to send."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from riskwatch.common.bus import MemoryBus, record_for
from riskwatch.common.catalog import load_catalog
from riskwatch.common.events import decode
from riskwatch.common.events.base import Level
from riskwatch.common.events.topics import ALARMS, WORKORDERS
from riskwatch.common.events.workorders import WorkOrderBulletinPublished
from riskwatch.common.testing import app_client, engine_for, eventually, migrate
from riskwatch.workorder.app import create_app
from riskwatch.workorder.module import MIGRATIONS
from riskwatch.workorder.settings import WorkOrderSettings
from riskwatch.workorder.workorders.bulletin import last_week

from .. import factories as f
from .test_api import as_


async def test_a_week_s_bulletin_is_published_once(make_database: Callable[[str], str]) -> None:
    url = make_database("workorder_bulletin")
    await migrate(url, [MIGRATIONS])
    bus = MemoryBus()
    settings = WorkOrderSettings(
        bus="memory", database={"url": url}, outbox_poll_interval_s=0.05, bulletin_check_s=3600
    )
    # The Monday job publishes last week's at start (no orders yet): the test asks for the
    # week before it.
    last_start, _ = last_week(datetime.now(UTC), load_catalog().district.zone)
    start = last_start - timedelta(days=7)
    app = create_app(settings, bus=bus)
    async with app_client(app) as c:
        head = await as_(app, settings, "head.zhou", "department_head")
        handler = await as_(app, settings, "handler.li", "handler")
        alarms = [f.alarm(Level.YELLOW) for _ in range(3)]
        for alarm in alarms:
            await bus.publish([record_for(ALARMS, f.raised(alarm))])

        await eventually(lambda: _count(url, 3))
        # Two of them were made last week and missed their close limit; one was closed late.
        engine = engine_for(url)
        async with engine.begin() as conn:
            ids = [
                r[0]
                for r in await conn.execute(
                    text("SELECT work_order_id FROM workorder.work_order ORDER BY work_order_id")
                )
            ]
            made = start + timedelta(hours=1)
            await conn.execute(
                text(
                    "UPDATE workorder.work_order SET created_at = :made, due_at = :due, "
                    "stage_due_at = :due WHERE work_order_id = ANY(:ids)"
                ),
                {"made": made, "due": made + timedelta(hours=2), "ids": ids[:2]},
            )
            await conn.execute(
                text(
                    "UPDATE workorder.work_order SET status = 'closed', closed_at = :closed, "
                    "stage_due_at = NULL WHERE work_order_id = :id"
                ),
                {"closed": made + timedelta(hours=5), "id": ids[1]},
            )
        await engine.dispose()

        week = {"week_of": (start + timedelta(days=2)).isoformat()}
        assert (
            await c.post("/api/v1/overdue-bulletins", json=week, headers=handler)
        ).status_code == 403
        first = await c.post("/api/v1/overdue-bulletins", json=week, headers=head)
        assert first.status_code == 200, first.json()
        body = first.json()
        assert datetime.fromisoformat(body["week_start"]) == start
        (unit,) = body["units"]
        assert (unit["unit_id"], unit["overdue_open"], unit["closed_late"]) == (
            "street-lujiazui",
            1,
            1,
        )
        assert sorted(unit["work_order_ids"]) == ids[:2]
        again = await c.post("/api/v1/overdue-bulletins", json=week, headers=head)
        assert again.json()["bulletin_id"] == body["bulletin_id"]
        now = {"week_of": datetime.now(UTC).isoformat()}
        in_progress = await c.post("/api/v1/overdue-bulletins", json=now, headers=head)
        assert in_progress.status_code == 422
        listed = (await c.get("/api/v1/overdue-bulletins", headers=head)).json()
        assert body["bulletin_id"] in [b["bulletin_id"] for b in listed]

        def published() -> list[WorkOrderBulletinPublished]:
            events = [decode(list(m.headers), m.value).data for m in bus.records(WORKORDERS)]
            return [
                e
                for e in events
                if isinstance(e, WorkOrderBulletinPublished) and e.week_start == start
            ]

        async def sent() -> bool:
            return bool(published())

        await eventually(sent)
    assert len(published()) == 1


async def _count(url: str, n: int) -> bool:
    engine = engine_for(url)
    try:
        async with engine.connect() as conn:
            found = await conn.scalar(text("SELECT count(*) FROM workorder.work_order"))
    finally:
        await engine.dispose()
    return found == n
