"""Alarm use cases against real PostgreSQL: raise once, escalate, repeat, clear, and the
outbox rows each step leaves for the relay."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.alerting.alarms.handlers import on_work_order
from riskwatch.alerting.alarms.models import Alarm
from riskwatch.alerting.alarms.service import clear_alarm, evaluate_readings
from riskwatch.alerting.models import generations, outbox
from riskwatch.alerting.rules.cache import RULES, RuleCache
from riskwatch.alerting.rules.service import put_rule
from riskwatch.common.catalog import default_catalog
from riskwatch.common.events import EventPayload, Level, decode, new_event
from riskwatch.common.events.alarms import AlarmCleared, AlarmRaised, AlarmUpdated
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.events.readings import ReadingsAccepted
from riskwatch.common.events.workorders import (
    WorkOrderAction,
    WorkOrderSnapshot,
    WorkOrderStateChanged,
    WorkOrderStatus,
)

from .. import factories as f


async def evaluate(
    session: AsyncSession, *batches: ReadingsAccepted, rules: RuleCache | None = None
) -> list[Envelope[EventPayload]]:
    return await evaluate_readings(
        session, events=f.envelopes(*batches), rules=rules or RuleCache()
    )


async def outbox_events(session: AsyncSession) -> list[object]:
    rows = (await session.execute(select(outbox.table).order_by(outbox.table.c.id))).all()
    return [decode([(k, v.encode()) for k, v in r.headers.items()], r.value).data for r in rows]


async def test_normal_readings_raise_nothing(session: AsyncSession) -> None:
    await put_rule(session, catalog=default_catalog(), rule_id="gas-lel", data=f.gas_rule())
    events = await evaluate(session, f.batch(1.0, 3.5, 9.9))
    assert events == []
    assert await session.scalar(select(func.count()).select_from(Alarm)) == 0


async def test_a_breach_raises_one_alarm_and_repeats_update_it(session: AsyncSession) -> None:
    await put_rule(session, catalog=default_catalog(), rule_id="gas-lel", data=f.gas_rule())
    await evaluate(session, f.batch(12.0, 14.0))
    await evaluate(session, f.batch(15.0, 11.0))
    alarms = (await session.scalars(select(Alarm))).all()
    assert len(alarms) == 1
    alarm = alarms[0]
    assert (alarm.level, alarm.status, alarm.breach_count) == ("blue", "active", 4)
    assert alarm.last_value == 11.0
    events = await outbox_events(session)
    assert [type(e) for e in events] == [AlarmRaised]


async def test_a_higher_level_escalates_the_same_alarm(session: AsyncSession) -> None:
    await put_rule(session, catalog=default_catalog(), rule_id="gas-lel", data=f.gas_rule())
    await evaluate(session, f.batch(21.0, 55.0, 30.0))
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
    await evaluate(session, f.batch(99.0, metric="pressure_kpa"))
    await evaluate(session, f.batch(99.0, dev=f.device("bridge-1", "bridges")))
    assert await session.scalar(select(func.count()).select_from(Alarm)) == 0


async def test_clearing_ends_the_alarm_and_a_new_breach_opens_another(
    session: AsyncSession,
) -> None:
    await put_rule(session, catalog=default_catalog(), rule_id="gas-lel", data=f.gas_rule())
    await evaluate(session, f.batch(60.0))
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
    await evaluate(session, f.batch(60.0, start=f.T0.replace(hour=4)))
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


async def test_one_batch_of_many_devices_and_records_keeps_each_devices_order(
    session: AsyncSession,
) -> None:
    await put_rule(session, catalog=default_catalog(), rule_id="gas-lel", data=f.gas_rule())
    devices = [f.device(f"gas-{i:03}") for i in range(20)]
    first = [f.batch(21.0 if i % 2 else 3.0, dev=d) for i, d in enumerate(devices)]
    second = [f.batch(55.0, dev=d, start=f.T0.replace(hour=4)) for d in devices[:10]]
    staged = await evaluate(session, *first, *second)
    alarms = {a.device_id: a for a in (await session.scalars(select(Alarm))).all()}
    # Odd devices breached yellow, then the first ten went red; even ones of the first ten
    # were normal before, so red is where they start.
    assert {d: a.level for d, a in alarms.items()} == {
        d.device_id: "red" if i < 10 else "yellow" for i, d in enumerate(devices) if i < 10 or i % 2
    }
    kinds = [(type(e.data).__name__, e.subject) for e in staged]
    for i, d in enumerate(devices[:10]):
        alarm_id = alarms[d.device_id].alarm_id
        mine = [k for k, subject in kinds if subject == alarm_id]
        assert mine == (["AlarmRaised", "AlarmUpdated"] if i % 2 else ["AlarmRaised"])


async def test_a_rule_change_is_seen_by_the_next_batch_through_the_same_cache(
    session: AsyncSession,
) -> None:
    catalog = default_catalog()
    rules = RuleCache()
    await put_rule(session, catalog=catalog, rule_id="gas-lel", data=f.gas_rule())
    await evaluate(session, f.batch(45.0), rules=rules)
    assert (await session.scalars(select(Alarm))).one().level == "orange"
    await put_rule(session, catalog=catalog, rule_id="gas-lel", data=f.gas_rule(red=40.0))
    await evaluate(session, f.batch(45.0, start=f.T0.replace(hour=4)), rules=rules)
    alarm = (await session.scalars(select(Alarm))).one()
    assert (alarm.level, alarm.threshold) == ("red", 40.0)
    await put_rule(session, catalog=catalog, rule_id="gas-lel", data=f.gas_rule(enabled=False))
    staged = await evaluate(session, f.batch(99.0, start=f.T0.replace(hour=5)), rules=rules)
    assert staged == []  # a disabled rule evaluates nothing


async def test_putting_the_same_rule_again_changes_nothing(session: AsyncSession) -> None:
    catalog = default_catalog()
    await put_rule(session, catalog=catalog, rule_id="gas-lel", data=f.gas_rule())
    before = await generations.current(session, RULES)
    rule, created = await put_rule(session, catalog=catalog, rule_id="gas-lel", data=f.gas_rule())
    assert not created
    assert rule.version == 1
    assert await generations.current(session, RULES) == before
    await put_rule(session, catalog=catalog, rule_id="gas-lel", data=f.gas_rule(name="renamed"))
    assert await generations.current(session, RULES) != before


def step(
    alarm: Alarm, action: WorkOrderAction, to_status: WorkOrderStatus
) -> Envelope[EventPayload]:
    snapshot = WorkOrderSnapshot(
        work_order_id="wo-7",
        alarm_id=alarm.alarm_id,
        level=Level(alarm.level),
        status=to_status,
        sector_id=alarm.sector_id,
        scenario_id=alarm.scenario_id,
        town_id=alarm.town_id,
        device_id=alarm.device_id,
        created_at=f.T0,
        due_at=f.T0,
        false_alarm=action == "false_alarm",
    )
    return new_event(
        WorkOrderStateChanged(
            work_order=snapshot,
            action=action,
            from_status="on_site" if action == "clear" else "dispatched",
            to_status=to_status,
            actor="handler-1",
            changed_at=f.T0,
        ),
        source="/test",
        subject=alarm.alarm_id,
    )


async def raised_alarm(session: AsyncSession) -> Alarm:
    await put_rule(session, catalog=default_catalog(), rule_id="gas-lel", data=f.gas_rule())
    await evaluate(session, f.batch(60.0))
    return (await session.scalars(select(Alarm))).one()


async def test_the_work_order_s_clear_step_clears_its_alarm_and_other_steps_do_not(
    session: AsyncSession,
) -> None:
    alarm = await raised_alarm(session)
    await on_work_order(session, step(alarm, "accept", "accepted"))
    await on_work_order(session, step(alarm, "arrive", "on_site"))
    assert (await session.scalars(select(Alarm))).one().status == "active"
    await on_work_order(session, step(alarm, "clear", "cleared"))
    await on_work_order(session, step(alarm, "clear", "cleared"))  # redelivered: nothing more
    await on_work_order(session, step(alarm, "close", "closed"))  # already cleared: nothing
    cleared = (await session.scalars(select(Alarm))).one()
    assert (cleared.status, cleared.cleared_reason, cleared.work_order_id) == (
        "cleared",
        "disposed",
        "wo-7",
    )
    kinds = [type(e) for e in await outbox_events(session)]
    assert kinds == [AlarmRaised, AlarmCleared]


async def test_a_false_alarm_clears_its_alarm_labelled_so(session: AsyncSession) -> None:
    alarm = await raised_alarm(session)
    await on_work_order(session, step(alarm, "false_alarm", "closed"))
    cleared = (await session.scalars(select(Alarm))).one()
    assert (cleared.status, cleared.cleared_reason) == ("cleared", "false_alarm")
