"""A device's liveness to its technical alarm, against real PostgreSQL: offline raises one
technical alarm (once, however often the event comes), online clears it as recovered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.alerting.alarms.domain import liveness_action
from riskwatch.alerting.alarms.handlers import device_status_handler
from riskwatch.alerting.alarms.models import Alarm
from riskwatch.alerting.models import outbox
from riskwatch.common.events import Level, decode, new_event
from riskwatch.common.events.alarms import AlarmCleared, AlarmRaised
from riskwatch.common.events.base import DeviceRef
from riskwatch.common.events.device_status import DeviceState, DeviceStatusChanged

T0 = datetime(2026, 12, 1, tzinfo=UTC)
DEVICE = DeviceRef(
    device_id="well-9", sector_id="construction", scenario_id="gas", town_id="lujiazui"
)


def status(state: DeviceState, at: datetime) -> DeviceStatusChanged:
    """A change as ingest makes it: offline from online, online again from offline."""
    previous: DeviceState = "online" if state == "offline" else "offline"
    return DeviceStatusChanged(device=DEVICE, status=state, previous_status=previous, changed_at=at)


async def outbox_events(session: AsyncSession) -> list[object]:
    rows = (await session.execute(select(outbox.table).order_by(outbox.table.c.id))).all()
    return [decode([(k, v.encode()) for k, v in r.headers.items()], r.value).data for r in rows]


def test_offline_raises_online_clears_nothing_else_does() -> None:
    assert liveness_action("offline") == "raise"
    assert liveness_action("online") == "clear"
    assert liveness_action("fault") is None
    assert liveness_action("online", None) is None  # first heard: nothing to clear


async def test_offline_raises_a_technical_alarm_that_clears_when_it_reports(
    session: AsyncSession,
) -> None:
    handle = device_status_handler(Level.BLUE)
    await handle(session, new_event(status("online", T0), source="test"))  # no alarm to clear
    for _ in range(2):  # a second offline (a redelivery, a replay) raises nothing more
        await handle(session, new_event(status("offline", T0 + timedelta(minutes=3)), source="t"))
    await handle(session, new_event(status("online", T0 + timedelta(minutes=9)), source="test"))

    [alarm] = (await session.scalars(select(Alarm))).all()
    assert (alarm.kind, alarm.rule_id, alarm.metric, alarm.level) == (
        "technical",
        "liveness",
        "liveness",
        "blue",
    )
    assert (alarm.status, alarm.cleared_reason) == ("cleared", "recovered")
    assert alarm.raised_at == T0 + timedelta(minutes=3)
    assert alarm.cleared_at == T0 + timedelta(minutes=9)
    raised, cleared = await outbox_events(session)
    assert isinstance(raised, AlarmRaised)
    assert (raised.alarm.kind, raised.alarm.device) == ("technical", DEVICE)
    assert isinstance(cleared, AlarmCleared)
    assert (cleared.alarm.kind, cleared.reason) == ("technical", "recovered")


async def test_the_level_is_a_setting(session: AsyncSession) -> None:
    await device_status_handler(Level.YELLOW)(
        session, new_event(status("offline", T0), source="test")
    )
    [alarm] = (await session.scalars(select(Alarm))).all()
    assert alarm.level == "yellow"
