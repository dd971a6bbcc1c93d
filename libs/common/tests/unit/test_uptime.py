"""The time-weighted online rate (riskwatch.common.uptime), the math ingest's online rate API and
reporting's monthly report share: properties over random status histories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from riskwatch.common.events.device_status import DeviceState
from riskwatch.common.uptime import Period, Uptime, total, uptime

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


# Histories: contiguous periods alternating online/offline, the last one maybe open.
@st.composite
def histories(draw: st.DrawFn) -> list[Period]:
    cuts = sorted(set(draw(st.lists(st.integers(0, 100_000), min_size=1, max_size=12))))
    first: bool = draw(st.booleans())
    open_end = draw(st.booleans())
    periods = []
    for i, start in enumerate(cuts):
        end = cuts[i + 1] if i + 1 < len(cuts) else (None if open_end else start + 500)
        status: DeviceState = "online" if (i % 2 == 0) == first else "offline"
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


def test_a_faulty_device_is_observed_and_not_online() -> None:
    history = [Period("online", at(0), at(30)), Period("fault", at(30), at(100))]
    part = uptime(history, start=at(0), end=at(100), now=at(100))
    assert part == Uptime(online_s=30, observed_s=100)
    assert part.offline_s == 70
