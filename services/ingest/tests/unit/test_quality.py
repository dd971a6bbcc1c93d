"""Data quality flags of readings (readings/quality.py): range, late, stuck, spike, gap, and the
series memory that follows each device and metric."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from riskwatch.ingest.readings.quality import (
    Flag,
    MetricLimits,
    QualityRules,
    SeriesMemory,
    assess,
    flag_names,
)

T0 = datetime(2026, 12, 23, 8, 0, tzinfo=UTC)
LIMITS = MetricLimits(min=0.0, max=100.0, interval_s=60.0)
RULES = QualityRules()  # stuck after 6, spike over half the range, late after 2 intervals


def run(values: list[float], *, limits: MetricLimits | None = LIMITS) -> list[int]:
    memory = SeriesMemory(max_series=10)
    ts = [T0 + timedelta(minutes=i) for i in range(len(values))]
    return memory.assess_all(
        [("d-1", "m", v, t) for v, t in zip(values, ts, strict=True)],
        received_at=ts[-1] if ts else T0,
        limits={} if limits is None else {"d-1": {"m": limits}},
        rules=QualityRules(late_intervals=10_000),
    )


def test_a_stuck_series_is_flagged_from_its_nth_equal_value() -> None:
    flags = run([5.0] * 8)
    assert [bool(f & Flag.STUCK) for f in flags] == [False] * 5 + [True] * 3
    # A change ends it; the count starts again.
    again = run([5.0] * 6 + [6.0] + [6.0] * 5)
    assert [bool(f & Flag.STUCK) for f in again] == [False] * 5 + [True] + [False] * 5 + [True]


def test_out_of_range_is_outside_the_profile_range_bounds_included() -> None:
    assert [flag_names(run([v])[0]) for v in (0.0, 100.0, 100.5)] == [[], [], ["out_of_range"]]
    assert run([-1.0], limits=LIMITS) == [Flag.OUT_OF_RANGE]
    assert run([-1.0, 1e9], limits=None) == [0, 0]  # no profile: no range, no spike


def test_a_spike_is_a_jump_of_more_than_the_share_of_the_range() -> None:
    assert [f & Flag.SPIKE for f in run([10.0, 60.0, 10.0, 61.0])] == [0, 0, 0, Flag.SPIKE]


def test_a_gap_flags_the_first_reading_after_missed_intervals() -> None:
    memory = SeriesMemory(max_series=10)
    minutes = [0, 1, 2, 4, 5, 5.5, 8]  # 2 -> 4: one missed; 5.5 -> 8: two
    rows = [("d-1", "m", 1.0 + i, T0 + timedelta(minutes=m)) for i, m in enumerate(minutes)]
    flags = memory.assess_all(
        rows,
        received_at=rows[-1][3],
        limits={"d-1": {"m": LIMITS}},
        rules=QualityRules(late_intervals=10_000),
    )
    assert [flag_names(f) for f in flags] == [[], [], [], ["gap"], [], [], ["gap"]]
    no_profile = SeriesMemory(max_series=10).assess_all(
        rows, received_at=rows[-1][3], limits={}, rules=QualityRules(late_default_s=1e9)
    )
    assert no_profile == [0] * len(rows)  # no interval known: no gap


def test_late_is_two_intervals_or_the_default_without_a_profile() -> None:
    received = T0 + timedelta(seconds=121)
    late, _ = assess(1.0, T0, received_at=received, limits=LIMITS, previous=None, rules=RULES)
    on_time, _ = assess(
        1.0,
        T0 + timedelta(seconds=1),
        received_at=received,
        limits=LIMITS,
        previous=None,
        rules=RULES,
    )
    assert (late, on_time) == (Flag.LATE, 0)
    unknown, _ = assess(1.0, T0, received_at=received, limits=None, previous=None, rules=RULES)
    assert unknown == 0
    old, _ = assess(
        1.0, T0, received_at=T0 + timedelta(seconds=601), limits=None, previous=None, rules=RULES
    )
    assert old == Flag.LATE


def test_a_reading_older_than_the_last_one_leaves_the_series_as_it_was() -> None:
    memory = SeriesMemory(max_series=10)
    args = {"received_at": T0 + timedelta(hours=1), "limits": {}, "rules": RULES}
    memory.assess_all([("d", "m", 1.0, T0 + timedelta(minutes=5))], **args)  # type: ignore[arg-type]
    memory.assess_all([("d", "m", 9.0, T0)], **args)  # type: ignore[arg-type]
    state = memory.get(("d", "m"))
    assert state is not None
    assert (state.value, state.repeats) == (1.0, 1)


def test_the_memory_is_bounded() -> None:
    memory = SeriesMemory(max_series=3)
    memory.assess_all(
        [(f"d-{i}", "m", 1.0, T0) for i in range(10)], received_at=T0, limits={}, rules=RULES
    )
    assert len(memory) == 3
    assert memory.get(("d-9", "m")) is not None


values = st.floats(min_value=-50, max_value=150, allow_nan=False)


@given(st.lists(values, min_size=1, max_size=40))
def test_flags_follow_their_definitions(series: list[float]) -> None:
    """Each flag holds exactly when its definition does, over any series."""
    flags = run(series)
    for i, (value, f) in enumerate(zip(series, flags, strict=True)):
        assert bool(f & Flag.OUT_OF_RANGE) == (not 0 <= value <= 100)
        run_length = 1
        while i - run_length >= 0 and series[i - run_length] == value:
            run_length += 1
        assert bool(f & Flag.STUCK) == (run_length >= RULES.stuck_readings)
        assert bool(f & Flag.SPIKE) == (i > 0 and abs(value - series[i - 1]) > 50)
        assert not f & Flag.LATE
        assert not f & Flag.GAP  # one reading a minute, the profile's interval


@given(st.lists(values, min_size=1, max_size=40), st.integers(min_value=1, max_value=39))
def test_a_batch_split_anywhere_flags_the_same(series: list[float], cut: int) -> None:
    """The memory carries a series across batches: two batches flag what one would."""
    whole = run(series)
    memory = SeriesMemory(max_series=10)
    rows = [("d-1", "m", v, T0 + timedelta(minutes=i)) for i, v in enumerate(series)]
    kwargs = {"received_at": rows[-1][3], "limits": {"d-1": {"m": LIMITS}}}
    rules = QualityRules(late_intervals=10_000)
    split = memory.assess_all(rows[:cut], rules=rules, **kwargs)  # type: ignore[arg-type]
    split += memory.assess_all(rows[cut:], rules=rules, **kwargs)  # type: ignore[arg-type]
    assert split == whole
