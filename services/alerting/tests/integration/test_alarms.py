"""Alarm use cases against real PostgreSQL: raise once, escalate, repeat, clear, and the
outbox rows each step leaves for the relay."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.alerting.alarms.models import Alarm
from riskwatch.alerting.alarms.service import clear_alarm, evaluate_readings
from riskwatch.alerting.models import outbox
from riskwatch.alerting.rules.service import put_rule
from riskwatch.common.catalog import default_catalog
from riskwatch.common.events import decode
from riskwatch.common.events.alarms import AlarmCleared, AlarmRaised, AlarmUpdated

from .. import factories as f


async def outbox_events(session: AsyncSession) -> list[object]:
    rows = (await session.execute(select(outbox.table).order_by(outbox.table.c.id))).all()
    return [decode([(k, v.encode()) for k, v in r.headers.items()], r.value).data for r in rows]


async def test_normal_readings_raise_nothing(session: AsyncSession) -> None:
    await put_rule(session, catalog=default_catalog(), rule_id="gas-lel", data=f.gas_rule())
    events = await evaluate_readings(session, batch=f.batch(1.0, 3.5, 9.9), traceparent=None)
    assert events == []
    assert await session.scalar(select(func.count()).select_from(Alarm)) == 0


async def test_a_breach_raises_one_alarm_and_repeats_update_it(session: AsyncSession) -> None:
    await put_rule(session, catalog=default_catalog(), rule_id="gas-lel", data=f.gas_rule())
    await evaluate_readings(session, batch=f.batch(12.0, 14.0), traceparent=None)
    await evaluate_readings(session, batch=f.batch(15.0, 11.0), traceparent=None)
    alarms = (await session.scalars(select(Alarm))).all()
    assert len(alarms) == 1
    alarm = alarms[0]
    assert (alarm.level, alarm.status, alarm.breach_count) == ("blue", "active", 4)
    assert alarm.last_value == 11.0
    events = await outbox_events(session)
    assert [type(e) for e in events] == [AlarmRaised]


async def test_a_higher_level_escalates_the_same_alarm(session: AsyncSession) -> None:
    await put_rule(session, catalog=default_catalog(), rule_id="gas-lel", data=f.gas_rule())
    await evaluate_readings(session, batch=f.batch(21.0, 55.0, 30.0), traceparent=None)
    alarm = (await session.scalars(select(Alarm))).one()
    assert alarm.level == "red"
    assert alarm.value == 55.0
    assert alarm.threshold == 50.0
    events = await outbox_events(session)
    assert [type(e) for e in events] == [AlarmRaised, AlarmUpdated]
    updated = events[1]
    assert isinstance(updated, AlarmUpdated)
    assert (updated.previous_level, updated.alarm.level) == ("yellow", "red")


async def test_rules_of_other_scenarios_and_metrics_do_not_apply(session: AsyncSession) -> None:
    await put_rule(session, catalog=default_catalog(), rule_id="gas-lel", data=f.gas_rule())
    await evaluate_readings(session, batch=f.batch(99.0, metric="pressure_kpa"), traceparent=None)
    await evaluate_readings(
        session, batch=f.batch(99.0, dev=f.device("bridge-1", "bridges")), traceparent=None
    )
    assert await session.scalar(select(func.count()).select_from(Alarm)) == 0


async def test_clearing_ends_the_alarm_and_a_new_breach_opens_another(
    session: AsyncSession,
) -> None:
    await put_rule(session, catalog=default_catalog(), rule_id="gas-lel", data=f.gas_rule())
    await evaluate_readings(session, batch=f.batch(60.0), traceparent=None)
    first = (await session.scalars(select(Alarm))).one()
    cleared = await clear_alarm(
        session,
        alarm_id=first.alarm_id,
        reason="work_order_closed",
        work_order_id="wo-1",
        traceparent=None,
    )
    assert cleared is not None
    assert cleared.status == "cleared"
    again = await clear_alarm(
        session,
        alarm_id=first.alarm_id,
        reason="work_order_closed",
        work_order_id="wo-1",
        traceparent=None,
    )
    assert again is None  # redelivered close: no second AlarmCleared
    await evaluate_readings(
        session, batch=f.batch(60.0, start=f.T0.replace(hour=4)), traceparent=None
    )
    statuses = sorted(a.status for a in (await session.scalars(select(Alarm))).all())
    assert statuses == ["active", "cleared"]
    kinds = [type(e) for e in await outbox_events(session)]
    assert kinds == [AlarmRaised, AlarmCleared, AlarmRaised]


async def test_rule_version_grows_only_when_detection_changes(session: AsyncSession) -> None:
    catalog = default_catalog()
    rule, created = await put_rule(session, catalog=catalog, rule_id="gas-lel", data=f.gas_rule())
    assert created
    assert rule.version == 1
    rule, created = await put_rule(
        session, catalog=catalog, rule_id="gas-lel", data=f.gas_rule(name="renamed")
    )
    assert not created
    assert rule.version == 1
    rule, _ = await put_rule(session, catalog=catalog, rule_id="gas-lel", data=f.gas_rule(red=40.0))
    assert rule.version == 2
