"""Liveness, pure: deadlines and transitions (the online rate's properties are
libs/common's test_uptime.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from riskwatch.ingest.liveness.domain import (
    Change,
    Liveness,
    ReceiptMemory,
    offline_after_s,
    on_reading,
    on_tick,
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


def test_a_device_heard_often_is_noted_once_per_window() -> None:
    memory = ReceiptMemory(every_s=5.0)
    intervals = {"fast": 60.0, "short": 4.0}  # short: a quarter of 4 s, 1 s, is its window
    noted = [
        memory.due(
            ["fast", "short", "plain"], at=T0 + timedelta(seconds=s), smallest_interval_s=intervals
        )
        for s in (0, 0.5, 1.2, 4.9, 5.0)
    ]
    assert noted == [
        ["fast", "short", "plain"],  # first heard: always
        ["plain"],  # no profile interval: every time
        ["short", "plain"],
        ["short", "plain"],
        ["fast", "plain"],
    ]


@given(st.lists(st.floats(min_value=0, max_value=600), min_size=1, max_size=60))
def test_every_receipt_lags_a_noted_one_by_less_than_the_window(seconds: list[float]) -> None:
    """The lag bound the deadline relies on: each receipt is within the window after a noted
    receipt no later than it (receipts in time order, as one process sees its batches)."""
    memory = ReceiptMemory(every_s=5.0)
    times = sorted(T0 + timedelta(seconds=s) for s in seconds)
    noted = [t for t in times if memory.due(["d"], at=t, smallest_interval_s={"d": 60.0})]
    assert noted[0] == times[0]
    for t in times:
        last = max(n for n in noted if n <= t)
        assert (t - last).total_seconds() < 5.0 or t == last
