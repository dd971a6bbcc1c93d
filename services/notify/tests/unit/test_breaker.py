"""The circuit breaker per provider: pure transitions on an injected clock, with properties
checked over any sequence of sends, failures and waits."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskwatch.notify.notifications.breaker import (
    CLOSED,
    Breaker,
    BreakerPolicy,
    BreakerState,
    CircuitBreakers,
    allow,
    current,
    failed,
    succeeded,
)

from .. import factories as f

POLICY = BreakerPolicy(failures=3, cool_down=timedelta(seconds=30))


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_it_opens_after_n_consecutive_failures_and_a_success_resets_the_count() -> None:
    b = CLOSED
    for _ in range(2):
        b = failed(b, now=f.NOW, policy=POLICY)
    assert (b.state, b.failures) == (BreakerState.CLOSED, 2)
    b = succeeded(b)
    assert b == CLOSED
    for _ in range(3):
        assert allow(b, now=f.NOW, policy=POLICY)[1]
        b = failed(b, now=f.NOW, policy=POLICY)
    assert (b.state, b.opened_at) == (BreakerState.OPEN, f.NOW)
    assert allow(b, now=f.NOW + timedelta(seconds=29), policy=POLICY) == (b, False)


def test_after_the_cool_down_one_probe_goes_through_and_its_result_decides() -> None:
    opened = Breaker(BreakerState.OPEN, 3, opened_at=f.NOW)
    later = f.NOW + timedelta(seconds=30)
    assert current(opened, now=later, policy=POLICY).state is BreakerState.HALF_OPEN
    probing, first = allow(opened, now=later, policy=POLICY)
    _, second = allow(probing, now=later, policy=POLICY)
    assert (first, second) == (True, False)  # one probe at a time
    assert succeeded(probing) == CLOSED
    reopened = failed(probing, now=later, policy=POLICY)
    assert (reopened.state, reopened.opened_at) == (BreakerState.OPEN, later)
    assert not allow(reopened, now=later + timedelta(seconds=29), policy=POLICY)[1]


def test_a_probe_that_never_reports_is_replaced_after_another_cool_down() -> None:
    probing, _ = allow(
        Breaker(BreakerState.OPEN, 3, opened_at=f.NOW),
        now=f.NOW + timedelta(seconds=30),
        policy=POLICY,
    )
    assert not allow(probing, now=f.NOW + timedelta(seconds=59), policy=POLICY)[1]
    assert allow(probing, now=f.NOW + timedelta(seconds=60), policy=POLICY)[1]


def test_a_late_failure_of_a_send_let_through_before_it_opened_changes_nothing() -> None:
    opened = Breaker(BreakerState.OPEN, 3, opened_at=f.NOW)
    assert failed(opened, now=f.NOW + timedelta(seconds=10), policy=POLICY) == opened


def test_the_registry_keeps_one_breaker_per_provider_on_its_clock() -> None:
    clock = Clock(f.NOW)
    breakers = CircuitBreakers(POLICY, clock=clock)
    for _ in range(3):
        assert breakers.allow("sms-http")
        breakers.failed("sms-http")
    assert breakers.is_open("sms-http")
    assert not breakers.allow("sms-http")
    assert breakers.allow("voice-http")  # another provider is not affected
    clock.now += timedelta(seconds=30)
    assert breakers.state("sms-http") is BreakerState.HALF_OPEN
    assert not breakers.is_open("sms-http")
    assert breakers.allow("sms-http")
    assert not breakers.allow("sms-http")
    breakers.succeeded("sms-http")
    assert breakers.state("sms-http") is BreakerState.CLOSED


def test_a_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="at least one"):
        BreakerPolicy(failures=0, cool_down=timedelta(seconds=1))
    with pytest.raises(ValueError, match="negative"):
        BreakerPolicy(failures=1, cool_down=timedelta(seconds=-1))


# Events: a send asked for (and, when allowed, its result), or time passing.
events = st.lists(
    st.one_of(
        st.tuples(st.just("send"), st.booleans()),
        st.tuples(st.just("wait"), st.integers(min_value=0, max_value=90)),
    ),
    max_size=60,
)


@given(events, st.integers(min_value=1, max_value=6), st.integers(min_value=0, max_value=60))
def test_breaker_properties(
    script: list[tuple[str, bool | int]], threshold: int, cool_down_s: int
) -> None:
    """Whatever happens: it opens only on the threshold-th consecutive failure (or a failed
    probe); while open and cooling down nothing goes through; after the cool-down exactly one
    probe does; a success always closes it."""
    policy = BreakerPolicy(failures=threshold, cool_down=timedelta(seconds=cool_down_s))
    now = f.NOW
    b = CLOSED
    streak = 0  # consecutive failures the model counts
    for kind, value in script:
        if kind == "wait":
            now += timedelta(seconds=int(value))
            continue
        before = current(b, now=now, policy=policy)
        b, allowed = allow(b, now=now, policy=policy)
        if before.state is BreakerState.OPEN:
            assert not allowed
            assert before.opened_at is not None
            assert now - before.opened_at < policy.cool_down
            continue
        if before.state is BreakerState.HALF_OPEN:
            # The first ask after the cool-down is the probe; then none until it reports.
            assert allowed == (before.probe_at is None or now - before.probe_at >= policy.cool_down)
        else:
            assert allowed
        if not allowed:
            continue
        if value:
            b = succeeded(b)
            streak = 0
            assert b == CLOSED
        else:
            streak += 1
            b = failed(b, now=now, policy=policy)
            if before.state is BreakerState.HALF_OPEN:
                assert b.state is BreakerState.OPEN
                assert b.opened_at == now
            else:
                assert (b.state is BreakerState.OPEN) == (streak >= threshold)
        if b.state is BreakerState.OPEN:
            streak = 0
