"""The work orders of a month through the API: events of the closed loop on the in-process bus,
out of order and redelivered, into the projection and the monthly report, on a set clock (a
past month, so the numbers are fixed); the reminder and the bulletin are read, not
dead-lettered."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from riskwatch.common.bus import MemoryBus, Position, record_for
from riskwatch.common.events import EventPayload, new_event
from riskwatch.common.events.topics import WORKORDERS, dlq_topic
from riskwatch.common.events.workorders import (
    WorkOrderBulletinPublished,
    WorkOrderDeadlineApproaching,
)
from riskwatch.common.testing import eventually, migrate
from riskwatch.reporting.module import GROUP, MIGRATIONS

from .. import factories as f

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2024, 3, 10, tzinfo=UTC)  # the report's clock: February 2024 is over
MIN = timedelta(minutes=1)


def feb(day: int, hour: int = 9) -> datetime:
    return datetime(2024, 2, day, hour, tzinfo=SHANGHAI)


@pytest.fixture(scope="module")
async def api_db(make_database: Callable[[str], str]) -> str:
    url = make_database("reporting_api_work_orders")
    await migrate(url, [MIGRATIONS])
    return url


@pytest.fixture
def report_clock() -> datetime:
    return NOW


def lifecycle(
    n: int,
    created: datetime,
    *,
    accepted: int | None,
    closed: int | None,
    false_alarm: bool = False,
    **snapshot: Any,
) -> tuple[str, list[EventPayload]]:
    """Order n (of alarm a-n) created at `created`, accepted and closed (as a false alarm) that
    many minutes later, None: not; due 4 hours after creation, accept limit 15 minutes."""
    wo, alarm = f"wo-{n}", f"a-{n}"
    kw = {"created_at": created, **snapshot}
    events: list[EventPayload] = [f.wo_created(wo, alarm, **kw)]
    if accepted is not None:
        events.append(f.wo_moved(wo, alarm, "accepted", at=created + accepted * MIN, **kw))
    if closed is not None:
        how: dict[str, Any] = {}
        if false_alarm:
            how = {"action": "false_alarm", "from_status": "accepted", "false_alarm": True}
        events.append(f.wo_moved(wo, alarm, "closed", at=created + closed * MIN, **kw, **how))
    return alarm, events


async def test_a_month_of_work_orders_has_its_overdue_share(
    client: httpx.AsyncClient, bus: MemoryBus
) -> None:
    lujiazui = {"unit_id": "street-lujiazui", "town_id": "lujiazui"}
    zhangjiang = {"unit_id": "street-zhangjiang", "town_id": "zhangjiang"}
    orders = [
        # Three closed on time (2 hours, due in 4).
        lifecycle(1, feb(1), accepted=10, closed=120, **lujiazui),
        lifecycle(2, feb(2), accepted=10, closed=120, **lujiazui),
        lifecycle(3, feb(3), accepted=10, closed=120, **lujiazui),
        # Two closed late (6 hours): overdue.
        lifecycle(4, feb(4), accepted=10, closed=360, **lujiazui),
        lifecycle(5, feb(5), accepted=10, closed=360, **zhangjiang),
        # Accepted late, never closed, long past due: overdue.
        lifecycle(6, feb(6), accepted=20, closed=None, **zhangjiang),
        # A false alarm, closed after half an hour.
        lifecycle(7, feb(7), accepted=10, closed=30, false_alarm=True, **zhangjiang),
        # Created in February's last hour, due after it ended: open, not overdue.
        lifecycle(8, feb(29, 23), accepted=None, closed=None, **zhangjiang),
        # January's.
        lifecycle(9, datetime(2024, 1, 31, 9, tzinfo=SHANGHAI), accepted=None, closed=None),
    ]
    # Out of order: every order's events newest first, and its last one delivered twice.
    positions: list[Position] = []
    for alarm, events in orders:
        for event in [*events[::-1], events[-1]]:
            positions += await publish(bus, event, subject=alarm)
    order = f.work_order("wo-6", "a-6", created_at=feb(6), status="accepted", **zhangjiang)
    reminder = WorkOrderDeadlineApproaching(
        work_order=order,
        stage="close",
        stage_due_at=order.due_at,
        reminded_at=order.due_at - 48 * MIN,
    )
    bulletin = WorkOrderBulletinPublished(
        bulletin_id="2024-w09",
        week_start=feb(19),
        week_end=feb(26),
        units=[],
        published_at=feb(26),
    )
    positions += await publish(bus, reminder, subject="a-6")
    positions += await publish(bus, bulletin, subject="bulletin")

    async def consumed() -> bool:
        return all(bus.is_consumed(p) for p in positions)

    await eventually(consumed)
    assert bus.records(dlq_topic(GROUP)) == []

    body = (await client.get("/api/v1/reports/monthly", params={"month": "2024-02"})).json()
    w = body["work_orders"]
    assert datetime.fromisoformat(body["as_of"]) == datetime(2024, 2, 29, 16, tzinfo=UTC)
    assert (w["created"], w["closed"], w["open"]) == (8, 6, 2)
    assert (w["closed_on_time"], w["closed_late"], w["overdue_open"]) == (4, 2, 1)
    # Overdue: orders 4 and 5 closed late, 6 never closed: 3 of 8.
    assert (w["overdue"], w["overdue_share"]) == (3, 0.375)
    # False alarms: order 7: 1 of 8.
    assert (w["false_alarms"], w["false_alarm_share"]) == (1, 0.125)
    assert w["false_alarms_by_rule"] == {"gas-rule": 1}
    # Accepted after 10 minutes six times, 20 once (late: the limit is 15).
    assert w["stages"]["accept"] == {
        "completed": 7,
        "on_time": 6,
        "late": 1,
        "on_time_rate": 6 / 7,
        "time_to_complete_p50_s": 600.0,
        "time_to_complete_p90_s": 1200.0,
    }
    # Closed after 1800 s once, 7200 s three times, 21600 s twice.
    assert w["stages"]["close"] == {
        "completed": 6,
        "on_time": 4,
        "late": 2,
        "on_time_rate": 4 / 6,
        "time_to_complete_p50_s": 7200.0,
        "time_to_complete_p90_s": 21600.0,
    }
    assert w["stages"]["on_site"]["completed"] == 0
    by_unit = {k: (v["created"], v["overdue"], v["overdue_share"]) for k, v in w["by_unit"].items()}
    assert by_unit == {"street-lujiazui": (4, 1, 0.25), "street-zhangjiang": (4, 2, 0.5)}
    assert list(w["by_town"]) == ["lujiazui", "zhangjiang"]
    assert w["by_sector"]["construction"]["overdue_share"] == 0.375

    trail = (await client.get("/api/v1/reports/alarms/a-7")).json()
    (seven,) = trail["work_orders"]
    assert (seven["status"], seven["false_alarm"], seven["unit_id"]) == (
        "closed",
        True,
        "street-zhangjiang",
    )
    assert datetime.fromisoformat(seven["closed_at"]) == feb(7) + 30 * MIN
    assert datetime.fromisoformat(seven["accept_due_at"]) == feb(7) + 15 * MIN


async def publish(bus: MemoryBus, payload: EventPayload, *, subject: str) -> list[Position]:
    return await bus.publish(
        [record_for(WORKORDERS, new_event(payload, source="/test", subject=subject))]
    )
