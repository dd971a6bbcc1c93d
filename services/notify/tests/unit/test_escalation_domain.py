"""Escalation policies and transitions (escalation.domain): the schedule a policy makes, steps
fired once each in order whatever the worker's timing, acknowledgement and clearing stop it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskwatch.common.events.base import Level
from riskwatch.notify.escalation import domain
from riskwatch.notify.escalation.domain import (
    DEFAULT_POLICIES,
    EscalationStatus,
    Fired,
    Policy,
    Repeat,
    Step,
    Target,
    TargetKind,
)
from riskwatch.notify.notifications.domain import ChannelKind

T0 = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
ON_DUTY = (Target(TargetKind.ON_DUTY),)
VOICE = (ChannelKind.VOICE,)


def minutes(fired: list[Fired]) -> list[tuple[int, int, float]]:
    return [(f.step, f.round, (f.due_at - T0).total_seconds() / 60) for f in fired]


def test_the_red_default_is_the_seed_s_chain_of_command() -> None:
    red = DEFAULT_POLICIES[Level.RED]
    assert domain.validate(red) == []
    first, voice, head, leader = red.steps
    assert (first.after_min, set(first.channels)) == (
        0,
        {ChannelKind.IN_APP, ChannelKind.SMS, ChannelKind.WEBHOOK},
    )
    assert (voice.after_min, voice.channels, voice.targets) == (3, VOICE, ON_DUTY)
    assert (head.after_min, head.targets[0].kind) == (10, TargetKind.DEPARTMENT_HEAD)
    assert (leader.after_min, leader.targets[0].kind) == (20, TargetKind.DISTRICT_LEADER)
    # Then the reminder and the heads again, twice, 20 min apart.
    assert minutes(domain.schedule(red, T0)) == [
        (0, 0, 0),
        (1, 0, 3),
        (2, 0, 10),
        (3, 0, 20),
        (1, 1, 23),
        (2, 1, 30),
        (3, 1, 40),
        (1, 2, 43),
        (2, 2, 50),
        (3, 2, 60),
    ]


@pytest.mark.parametrize("level", list(Level))
def test_every_default_policy_can_run(level: Level) -> None:
    assert domain.validate(DEFAULT_POLICIES[level]) == []


def test_the_first_step_fires_at_the_start_and_the_next_waits() -> None:
    red = DEFAULT_POLICIES[Level.RED]
    result = domain.fire_due(domain.start(red, now=T0), red, now=T0)
    assert minutes(result.fired) == [(0, 0, 0)]
    assert result.state.next_step == 1
    assert result.state.next_step_at == T0 + timedelta(minutes=3)
    # A look just before the wait is over fires nothing.
    early = domain.fire_due(result.state, red, now=T0 + timedelta(minutes=3, seconds=-1))
    assert early.fired == []
    assert early.state == result.state


def test_a_worker_that_was_down_fires_every_missed_step_once_in_order() -> None:
    red = DEFAULT_POLICIES[Level.RED]
    state = domain.fire_due(domain.start(red, now=T0), red, now=T0).state
    late = domain.fire_due(state, red, now=T0 + timedelta(minutes=25))
    assert minutes(late.fired) == [(1, 0, 3), (2, 0, 10), (3, 0, 20), (1, 1, 23)]
    assert (late.state.next_step, late.state.round) == (2, 1)


def test_acknowledgement_stops_it_and_nothing_fires_after() -> None:
    red = DEFAULT_POLICIES[Level.RED]
    state = domain.fire_due(domain.start(red, now=T0), red, now=T0).state
    acked = domain.acknowledge(state)
    assert acked.status is EscalationStatus.ACKNOWLEDGED
    assert acked.next_step_at is None
    assert domain.fire_due(acked, red, now=T0 + timedelta(days=1)).fired == []
    # Stopped stays stopped: clearing, accepting or acknowledging again changes nothing.
    assert domain.clear(acked) is acked
    assert domain.accept(acked) is acked
    assert domain.acknowledge(acked) is acked
    accepted = domain.accept(state)
    assert (accepted.status, accepted.next_step_at) == (EscalationStatus.ACCEPTED, None)
    assert domain.fire_due(accepted, red, now=T0 + timedelta(days=1)).fired == []


def test_the_end_of_the_schedule_exhausts_it() -> None:
    blue = DEFAULT_POLICIES[Level.BLUE]
    state = domain.fire_due(domain.start(blue, now=T0), blue, now=T0 + timedelta(hours=5)).state
    assert state.status is EscalationStatus.EXHAUSTED
    assert state.next_step_at is None


@pytest.mark.parametrize(
    ("policy", "problem"),
    [
        (Policy(steps=()), "at least one step"),
        (Policy(steps=(Step(5, ON_DUTY, VOICE), Step(1, ON_DUTY, VOICE))), "must not decrease"),
        (Policy(steps=(Step(0, (), VOICE),)), "no targets"),
        (Policy(steps=(Step(0, (Target(TargetKind.ROBOT),), VOICE),)), "webhook channel"),
        (Policy(steps=(Step(0, (Target(TargetKind.ROLE),), VOICE),)), "needs a role"),
        (
            Policy(
                steps=(Step(0, ON_DUTY, VOICE), Step(10, ON_DUTY, VOICE)),
                repeat=Repeat(from_step=0, every_min=10, rounds=2),
            ),
            "never overlap",
        ),
        (
            Policy(steps=(Step(0, ON_DUTY, VOICE),), repeat=Repeat(3, 10, 1)),
            "from_step",
        ),
    ],
)
def test_a_policy_that_cannot_run_says_why(policy: Policy, problem: str) -> None:
    assert any(problem in p for p in domain.validate(policy))


def test_policies_round_trip_through_json() -> None:
    for policy in DEFAULT_POLICIES.values():
        assert domain.policy_from_json(domain.policy_to_json(policy)) == policy
    stored = domain.policies_to_json({Level.BLUE: DEFAULT_POLICIES[Level.YELLOW]})
    loaded = domain.policies_from_json(stored)
    assert loaded[Level.BLUE] == DEFAULT_POLICIES[Level.YELLOW]
    assert loaded[Level.RED] == DEFAULT_POLICIES[Level.RED]  # the levels not stored: defaults


# -- properties ---------------------------------------------------------------------------------

steps_st = st.lists(st.floats(0, 120, allow_nan=False), min_size=1, max_size=6).map(
    lambda waits: tuple(Step(w, ON_DUTY, VOICE) for w in sorted(waits))
)


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    steps = draw(steps_st)
    if not draw(st.booleans()):
        return Policy(steps)
    from_step = draw(st.integers(0, len(steps) - 1))
    span = steps[-1].after_min - steps[from_step].after_min
    every = span + draw(st.floats(0.5, 60, allow_nan=False))
    return Policy(steps, Repeat(from_step, every, draw(st.integers(1, 4))))


@given(
    policy=policies(),
    looks=st.lists(st.floats(0, 600, allow_nan=False), max_size=30),
)
def test_whenever_the_worker_looks_every_step_fires_once_in_schedule_order(
    policy: Policy, looks: list[float]
) -> None:
    assert domain.validate(policy) == []
    state = domain.start(policy, now=T0)
    fired: list[Fired] = []
    for at in [T0 + timedelta(minutes=m) for m in sorted(looks)] + [T0 + timedelta(days=2)]:
        result = domain.fire_due(state, policy, now=at)
        assert all(f.due_at <= at for f in result.fired)  # never early
        fired += result.fired
        state = result.state
    assert fired == domain.schedule(policy, T0)
    assert state.status is EscalationStatus.EXHAUSTED
    # Due times never go backwards.
    assert [f.due_at for f in fired] == sorted(f.due_at for f in fired)


@given(
    policy=policies(),
    ack_at=st.floats(0, 600, allow_nan=False),
    looks=st.lists(st.floats(0, 900, allow_nan=False), max_size=20),
)
def test_nothing_fires_after_an_acknowledgement(
    policy: Policy, ack_at: float, looks: list[float]
) -> None:
    state = domain.start(policy, now=T0)
    state = domain.fire_due(state, policy, now=T0 + timedelta(minutes=ack_at)).state
    before = state
    state = domain.acknowledge(state)
    assert state.status in (EscalationStatus.ACKNOWLEDGED, EscalationStatus.EXHAUSTED)
    if before.status is EscalationStatus.ACTIVE:
        assert state.status is EscalationStatus.ACKNOWLEDGED
    for at in sorted(looks):
        assert domain.fire_due(state, policy, now=T0 + timedelta(minutes=at)).fired == []
