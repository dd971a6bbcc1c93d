"""The alarm transition, called directly: one alarm per device x rule, escalations only go up,
every breach is counted, and the event says what changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from riskwatch.alerting.alarms.domain import AlarmState, Breach, Transition, apply_breach
from riskwatch.alerting.rules.domain import RuleSpec, Thresholds
from riskwatch.common.events.alarms import AlarmRaised, AlarmUpdated
from riskwatch.common.events.base import DeviceRef, Level

T0 = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
RULE = RuleSpec(
    rule_id="gas-lel",
    version=3,
    scenario_id="gas",
    metric="ch4_lel",
    direction="above",
    thresholds=Thresholds(blue=10, yellow=20, orange=25, red=50),
)
DEVICE = DeviceRef(device_id="gas-001", sector_id="construction", scenario_id="gas")
THRESHOLD = {Level.BLUE: 10.0, Level.YELLOW: 20.0, Level.ORANGE: 25.0, Level.RED: 50.0}

levels = st.sampled_from(list(Level))


def breach(level: Level, i: int, value: float | None = None) -> Breach:
    at = T0 + timedelta(seconds=10 * i)
    return Breach(
        rule=RULE,
        device=DEVICE,
        value=THRESHOLD[level] + 1 if value is None else value,
        observed_at=at,
        received_at=at + timedelta(seconds=1),
        level=level,
        threshold=THRESHOLD[level],
    )


def replay(breaches: list[Level]) -> list[Transition]:
    state: AlarmState | None = None
    steps = []
    for i, level in enumerate(breaches):
        step = apply_breach(
            state, breach(level, i), now=T0 + timedelta(seconds=10 * i + 2), new_alarm_id=f"a{i}"
        )
        steps.append(step)
        state = step.state
    return steps


@given(st.lists(levels, min_size=1, max_size=50))
def test_a_breach_that_stays_raises_exactly_one_alarm(breaches: list[Level]) -> None:
    steps = replay(breaches)
    raised = [s for s in steps if isinstance(s.event, AlarmRaised)]
    assert len(raised) == 1
    assert steps[0].event is raised[0].event
    final = steps[-1].state
    assert {s.state.alarm_id for s in steps} == {"a0"}
    assert final.breach_count == len(breaches)
    assert final.level == max(breaches, key=lambda lvl: lvl.rank)
    assert final.raised_at == T0 + timedelta(seconds=2)
    assert final.last_observed_at == T0 + timedelta(seconds=10 * (len(breaches) - 1))


@given(st.lists(levels, min_size=1, max_size=50))
def test_escalations_only_go_up_and_say_from_where(breaches: list[Level]) -> None:
    steps = replay(breaches)
    highest = breaches[0]
    for level, step in zip(breaches[1:], steps[1:], strict=True):
        if level.rank > highest.rank:
            assert isinstance(step.event, AlarmUpdated)
            assert step.event.previous_level == highest
            assert step.event.alarm.level == level
            assert step.state.threshold == THRESHOLD[level]
            highest = level
        else:
            assert step.event is None
            assert step.state.level == highest


def test_a_repeat_at_a_lower_level_counts_but_keeps_what_set_the_level() -> None:
    raised = apply_breach(None, breach(Level.RED, 0, 61.5), now=T0, new_alarm_id="a")
    assert isinstance(raised.event, AlarmRaised)
    assert raised.event.alarm.rule_version == RULE.version
    repeat = apply_breach(raised.state, breach(Level.YELLOW, 1, 21.0), now=T0, new_alarm_id="b")
    assert repeat.event is None
    assert (repeat.state.level, repeat.state.value, repeat.state.last_value) == (
        Level.RED,
        61.5,
        21.0,
    )
    assert repeat.state.breach_count == 2
    assert repeat.state.alarm_id == "a"
