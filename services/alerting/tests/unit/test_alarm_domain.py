"""One alarm per device x rule: a breach that stays raises exactly one alarm."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from riskwatch.alerting.alarms.domain import ActiveAlarm, Decision, decide
from riskwatch.common.events.base import Level

levels = st.sampled_from(list(Level))


def replay(breaches: list[Level]) -> tuple[list[Decision], ActiveAlarm | None]:
    active: ActiveAlarm | None = None
    decisions = []
    for level in breaches:
        decision = decide(active, level)
        decisions.append(decision)
        if decision is Decision.RAISE:
            active = ActiveAlarm(level, 1)
        else:
            assert active is not None
            new_level = level if decision is Decision.ESCALATE else active.level
            active = ActiveAlarm(new_level, active.breach_count + 1)
    return decisions, active


@given(st.lists(levels, min_size=1, max_size=50))
def test_a_breach_that_stays_raises_exactly_one_alarm(breaches: list[Level]) -> None:
    decisions, active = replay(breaches)
    assert decisions.count(Decision.RAISE) == 1
    assert decisions[0] is Decision.RAISE
    assert active is not None
    assert active.breach_count == len(breaches)
    assert active.level == max(breaches, key=lambda lvl: lvl.rank)


@given(st.lists(levels, min_size=1, max_size=50))
def test_escalations_only_go_up(breaches: list[Level]) -> None:
    decisions, _ = replay(breaches)
    highest = 0
    for level, decision in zip(breaches, decisions, strict=True):
        if decision is Decision.ESCALATE:
            assert level.rank > highest
        highest = max(highest, level.rank)


def test_repeat_at_lower_level_keeps_the_alarm() -> None:
    assert decide(ActiveAlarm(Level.RED, 3), Level.YELLOW) is Decision.REPEAT
    assert decide(ActiveAlarm(Level.YELLOW, 1), Level.RED) is Decision.ESCALATE
    assert decide(None, Level.BLUE) is Decision.RAISE
