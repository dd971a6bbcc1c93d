"""The disposal state machine and the deadlines are pure: tables of cases and properties."""

from __future__ import annotations

import contextlib
import itertools
from datetime import UTC, datetime, timedelta
from typing import get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskwatch.common.events.base import Level
from riskwatch.workorder.workorders.domain import (
    DEFAULT_POLICY,
    STATUS_ORDER,
    Action,
    DeadlinePolicy,
    Status,
    TransitionNotAllowed,
    due_at,
    escalate,
    transition,
)

T0 = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
STATUSES: tuple[Status, ...] = get_args(Status)
ACTIONS: tuple[Action, ...] = get_args(Action)
actions = st.sampled_from(ACTIONS)
levels = st.sampled_from(list(Level))
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
durations = st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=30))
policies = st.builds(
    DeadlinePolicy, red=durations, orange=durations, yellow=durations, blue=durations
)


def replay(start: Status, steps: list[Action]) -> list[Status]:
    """The statuses a work order passes through; refused actions leave it where it was."""
    seen = [start]
    for action in steps:
        try:
            seen.append(transition(seen[-1], action))
        except TransitionNotAllowed:
            seen.append(seen[-1])
    return seen


def test_exactly_the_loop_is_allowed() -> None:
    allowed = {}
    for status, action in itertools.product(STATUSES, ACTIONS):
        with contextlib.suppress(TransitionNotAllowed):
            allowed[(status, action)] = transition(status, action)
    assert allowed == {
        ("open", "accept"): "accepted",
        ("accepted", "dispose"): "disposed",
        ("accepted", "close"): "closed",
        ("disposed", "close"): "closed",
    }


def test_a_refusal_says_what_to_do_instead() -> None:
    with pytest.raises(
        TransitionNotAllowed, match="Cannot close a work order that is open; accept"
    ):
        transition("open", "close")
    with pytest.raises(TransitionNotAllowed) as refused:
        transition("closed", "accept")
    assert (refused.value.status, refused.value.action) == ("closed", "accept")


@given(st.lists(actions, max_size=30))
def test_no_sequence_of_actions_leaves_closed(steps: list[Action]) -> None:
    seen = replay("open", steps)
    if "closed" in seen:
        assert set(seen[seen.index("closed") :]) == {"closed"}
    for action in steps:
        with pytest.raises(TransitionNotAllowed):
            transition("closed", action)


@given(st.sampled_from(STATUSES), st.lists(actions, max_size=30))
def test_status_never_moves_backwards(start: Status, steps: list[Action]) -> None:
    ranks = [STATUS_ORDER[s] for s in replay(start, steps)]
    assert ranks == sorted(ranks)


@given(st.sampled_from(STATUSES), actions)
def test_every_allowed_step_moves_forward(status: Status, action: Action) -> None:
    try:
        target = transition(status, action)
    except TransitionNotAllowed:
        return
    assert STATUS_ORDER[target] > STATUS_ORDER[status]


def test_default_deadlines() -> None:
    assert due_at(Level.RED, T0) == T0 + timedelta(hours=2)
    assert due_at(Level.ORANGE, T0) == T0 + timedelta(hours=6)
    assert due_at(Level.YELLOW, T0) == T0 + timedelta(hours=24)
    assert due_at(Level.BLUE, T0) == T0 + timedelta(hours=72)


@given(levels, levels, moments)
def test_a_higher_level_never_gets_a_later_deadline(a: Level, b: Level, created: datetime) -> None:
    higher, lower = (a, b) if a.rank >= b.rank else (b, a)
    assert due_at(higher, created, DEFAULT_POLICY) <= due_at(lower, created, DEFAULT_POLICY)


@given(levels, moments, policies)
def test_due_at_is_after_created_at(
    level: Level, created: datetime, policy: DeadlinePolicy
) -> None:
    assert due_at(level, created, policy) > created


@given(levels, levels, moments, durations, policies, st.sampled_from(STATUSES))
def test_escalation_only_raises_the_level_and_never_gives_more_time(
    current: Level,
    new: Level,
    created: datetime,
    given_time: timedelta,
    policy: DeadlinePolicy,
    status: Status,
) -> None:
    current_due = created + given_time
    change = escalate(
        status=status,
        level=current,
        current_due_at=current_due,
        created_at=created,
        new_level=new,
        policy=policy,
    )
    if status == "closed" or new.rank <= current.rank:
        assert change is None
        return
    assert change is not None
    assert change.level == new
    assert change.due_at <= current_due
    assert change.due_at in (current_due, due_at(new, created, policy))


def test_escalation_brings_the_deadline_forward() -> None:
    change = escalate(
        status="accepted",
        level=Level.YELLOW,
        current_due_at=T0 + timedelta(hours=24),
        created_at=T0,
        new_level=Level.RED,
    )
    assert change is not None
    assert (change.level, change.due_at) == (Level.RED, T0 + timedelta(hours=2))
