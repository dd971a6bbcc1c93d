"""Liveness, pure: deadlines, transitions, and the time-weighted online rate (properties)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from riskwatch.ingest.liveness.domain import (
    Change,
    Liveness,
    Period,
    Uptime,
    offline_after_s,
    on_reading,
    on_tick,
    total,
    uptime,
)

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def test_the_deadline_is_the_smallest_interval_times_the_profiles_count() -> None:
    assert offline_after_s([60, 30, 300], 3) == 90
    assert offline_after_s([], 3) is None


def test_a_first_reading_puts_a_device_online() -> None:
    step = on_reading(None, seen_at=at(0), offline_after_s=90)
    assert step.state == Liveness("online", at(0), at(0), 90)
    assert step.change == Change("online", None, at(0))


def test_an_online_device_goes_offline_after_its_deadline_as_of_the_deadline() -> None:
    state = Liveness("online", at(0), at(10), 90)
    assert on_tick(state, now=at(100)).change is None  # exactly at the deadline: still online
    step = on_tick(state, now=at(500))
    assert step.change == Change("offline", "online", at(100))
    assert step.state.status == "offline"
    assert step.state.status_since == at(100)
    assert on_tick(step.state, now=at(900)).change is None  # offline stays offline, once


def test_the_next_reading_brings_it_back() -> None:
    offline = Liveness("offline", at(100), at(10), 90)
    step = on_reading(offline, seen_at=at(400), offline_after_s=90)
    assert step.change == Change("online", "offline", at(400))
    assert step.state == Liveness("online", at(400), at(400), 90)


def test_a_late_consumed_reading_comes_back_no_earlier_than_the_offline_began() -> None:
    offline = Liveness("offline", at(100), at(10), 90)
    step = on_reading(offline, seen_at=at(50), offline_after_s=90)
    assert step.change == Change("online", "offline", at(100))
    assert step.state.last_seen_at == at(50)


@given(st.lists(st.floats(0, 10_000), min_size=1, max_size=20))
def test_last_seen_never_goes_backwards(times: list[float]) -> None:
    state = None
    latest = None
    for t in times:
        state = on_reading(state, seen_at=at(t), offline_after_s=60).state
        latest = at(t) if latest is None else max(latest, at(t))
        assert state.last_seen_at == latest


# Histories: contiguous periods alternating online/offline, the last one maybe open.
@st.composite
def histories(draw: st.DrawFn) -> list[Period]:
    cuts = sorted(set(draw(st.lists(st.integers(0, 100_000), min_size=1, max_size=12))))
    first: bool = draw(st.booleans())
    open_end = draw(st.booleans())
    periods = []
    for i, start in enumerate(cuts):
        end = cuts[i + 1] if i + 1 < len(cuts) else (None if open_end else start + 500)
        status = "online" if (i % 2 == 0) == first else "offline"
        periods.append(Period(status, at(start), at(end) if end is not None else None))
    return periods


windows = st.tuples(st.integers(-1_000, 110_000), st.integers(1, 120_000))


@given(histories(), windows, st.integers(0, 120_000))
def test_the_rate_is_a_share(history: list[Period], window: tuple[int, int], now: int) -> None:
    start, length = window
    part = uptime(history, start=at(start), end=at(start + length), now=at(now))
    assert 0 <= part.online_s <= part.observed_s <= length
    assert part.rate is None or 0.0 <= part.rate <= 1.0


@given(histories(), windows, st.integers(0, 120_000), st.integers(0, 120_000))
def test_splitting_a_period_and_recombining_gives_the_same_total(
    history: list[Period], window: tuple[int, int], cut: int, now: int
) -> None:
    start, length = window
    middle = start + min(cut, length)
    whole = uptime(history, start=at(start), end=at(start + length), now=at(now))
    halves = total(
        [
            uptime(history, start=at(start), end=at(middle), now=at(now)),
            uptime(history, start=at(middle), end=at(start + length), now=at(now)),
        ]
    )
    assert abs(whole.online_s - halves.online_s) < 1e-6
    assert abs(whole.observed_s - halves.observed_s) < 1e-6


def test_time_before_the_first_reading_and_after_now_is_not_observed() -> None:
    history = [Period("online", at(100), at(200)), Period("offline", at(200), None)]
    part = uptime(history, start=at(0), end=at(1000), now=at(300))
    assert part == Uptime(online_s=100, observed_s=200)
    assert part.rate == 0.5


def test_a_group_is_time_weighted_not_a_mean_of_rates() -> None:
    group = total([Uptime(online_s=10, observed_s=10), Uptime(online_s=0, observed_s=90)])
    assert group.rate == 0.1
    assert Uptime().rate is None


@given(
    st.lists(
        st.tuples(st.integers(0, 1000), st.integers(0, 1000)).map(lambda t: Uptime(min(t), max(t))),
        max_size=10,
    )
)
def test_a_groups_rate_lies_between_its_devices_rates(parts: list[Uptime]) -> None:
    rates = [p.rate for p in parts if p.rate is not None]
    group = total(parts).rate
    if rates:
        assert group is not None
        assert min(rates) - 1e-9 <= group <= max(rates) + 1e-9
