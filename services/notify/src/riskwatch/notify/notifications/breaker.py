"""A circuit breaker per provider: stop sending to a provider that keeps failing, try it again
after a cool-down. Pure transitions on an immutable state plus a small per-process registry
with an injected clock (docs/adr/0018: the dispatcher consults it before every send, and an
alarm's SMS falls back to voice at once while the SMS provider's breaker is open).

closed --N consecutive failures--> open --cool-down--> half-open (one probe at a time)
half-open --probe succeeds--> closed;  half-open --probe fails--> open (a new cool-down)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"  # sends go through; failures are counted
    OPEN = "open"  # nothing is sent until the cool-down has passed
    HALF_OPEN = "half_open"  # one probe goes through; its result closes or reopens


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    failures: int  # consecutive failures that open the breaker (>= 1)
    cool_down: timedelta  # how long it stays open before a probe

    def __post_init__(self) -> None:
        if self.failures < 1:
            raise ValueError("a breaker opens after at least one failure")
        if self.cool_down < timedelta(0):
            raise ValueError("a breaker's cool-down is not negative")


@dataclass(frozen=True, slots=True)
class Breaker:
    """One provider's breaker. `failures` counts consecutive failures while closed; `opened_at`
    is when it last opened; `probe_at` when the probe in flight (half-open) was let through."""

    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    opened_at: datetime | None = None
    probe_at: datetime | None = None


CLOSED = Breaker()


def current(breaker: Breaker, *, now: datetime, policy: BreakerPolicy) -> Breaker:
    """The breaker as time has left it: open past its cool-down is half-open."""
    if (
        breaker.state is BreakerState.OPEN
        and breaker.opened_at is not None
        and now - breaker.opened_at >= policy.cool_down
    ):
        return replace(breaker, state=BreakerState.HALF_OPEN, probe_at=None)
    return breaker


def allow(breaker: Breaker, *, now: datetime, policy: BreakerPolicy) -> tuple[Breaker, bool]:
    """May one send go out now, and the breaker after the decision. Half-open lets one probe
    through at a time: a batch of sends must not all hit a provider that may still be down. A
    probe that never reported (its dispatcher died) is replaced after another cool-down."""
    breaker = current(breaker, now=now, policy=policy)
    if breaker.state is BreakerState.CLOSED:
        return breaker, True
    if breaker.state is BreakerState.OPEN:
        return breaker, False
    if breaker.probe_at is not None and now - breaker.probe_at < policy.cool_down:
        return breaker, False
    return replace(breaker, probe_at=now), True


def succeeded(breaker: Breaker) -> Breaker:
    """The provider answered: whatever the state, it is closed and the count starts again."""
    return CLOSED


def failed(breaker: Breaker, *, now: datetime, policy: BreakerPolicy) -> Breaker:
    """The provider failed (unreachable, 5xx, throttling): count it; the Nth consecutive
    failure, or a failed probe, opens the breaker for a cool-down."""
    breaker = current(breaker, now=now, policy=policy)
    if breaker.state is BreakerState.HALF_OPEN:
        return Breaker(BreakerState.OPEN, policy.failures, opened_at=now)
    if breaker.state is BreakerState.OPEN:
        # A send let through before it opened reports late: it changes nothing.
        return breaker
    failures = breaker.failures + 1
    if failures >= policy.failures:
        return Breaker(BreakerState.OPEN, failures, opened_at=now)
    return replace(breaker, failures=failures)


Clock = Callable[[], datetime]


class CircuitBreakers:
    """The breakers of this process, one per provider name, on an injected clock. Not shared
    between replicas (docs/adr/0018: each learns on its own that a provider is down)."""

    def __init__(self, policy: BreakerPolicy, *, clock: Clock) -> None:
        self.policy = policy
        self._clock = clock
        self._breakers: dict[str, Breaker] = {}

    def allow(self, provider: str) -> bool:
        breaker, allowed = allow(self._get(provider), now=self._clock(), policy=self.policy)
        self._breakers[provider] = breaker
        return allowed

    def succeeded(self, provider: str) -> None:
        self._breakers[provider] = succeeded(self._get(provider))

    def failed(self, provider: str) -> None:
        self._breakers[provider] = failed(
            self._get(provider), now=self._clock(), policy=self.policy
        )

    def state(self, provider: str) -> BreakerState:
        return current(self._get(provider), now=self._clock(), policy=self.policy).state

    def is_open(self, provider: str) -> bool:
        """Open and still cooling down: sending to it now would be refused."""
        return self.state(provider) is BreakerState.OPEN

    def _get(self, provider: str) -> Breaker:
        return self._breakers.get(provider, CLOSED)
