"""Rule evaluation is pure: properties over any thresholds, values and quality flags."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from riskwatch.alerting.alarms.domain import AlarmState, Breach, apply_breach
from riskwatch.alerting.rules.domain import (
    FLAG_BITS,
    RuleSpec,
    Thresholds,
    classify,
    evaluate,
    flag_mask,
    flag_names_in_order,
    threshold_problems,
)
from riskwatch.common.events.base import DeviceRef, Level
from riskwatch.common.events.readings import FLAG_NAMES

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
# Any flags a reading may carry (Reading.flags: 15 bits), and any set of names a rule ignores.
any_flags = st.integers(min_value=0, max_value=32767)
ignored_names = st.lists(st.sampled_from(list(FLAG_BITS)), unique=True)


@st.composite
def coherent_rules(draw: st.DrawFn) -> RuleSpec:
    direction = draw(st.sampled_from(["above", "below"]))
    values = sorted(draw(st.lists(finite, min_size=4, max_size=4)))
    if direction == "below":
        values.reverse()
    keep = draw(st.lists(st.booleans(), min_size=4, max_size=4).filter(any))
    kept = [v if k else None for v, k in zip(values, keep, strict=True)]
    return RuleSpec("r", 1, "gas", "m", direction, Thresholds(*kept))


def rule(direction: str = "above", **levels: float) -> RuleSpec:
    return RuleSpec("r", 1, "gas", "ch4", direction, Thresholds(**levels))  # type: ignore[arg-type]


def test_highest_level_reached_wins() -> None:
    r = rule(blue=10, yellow=20, orange=25, red=50)
    assert classify(r, 5) is None
    assert classify(r, 10) == (Level.BLUE, 10)
    assert classify(r, 24.9) == (Level.YELLOW, 20)
    assert classify(r, 50) == (Level.RED, 50)
    assert classify(r, 1e9) == (Level.RED, 50)


def test_below_rules_fire_on_low_values() -> None:
    r = rule("below", yellow=2.0, red=0.5)  # e.g. water pressure in MPa
    assert classify(r, 3.0) is None
    assert classify(r, 1.0) == (Level.YELLOW, 2.0)
    assert classify(r, 0.1) == (Level.RED, 0.5)


def test_incoherent_thresholds_are_explained() -> None:
    assert threshold_problems("above", Thresholds(blue=10, red=5)) == [
        "red threshold 5 must be at least the blue threshold 10 for a rule that fires above"
    ]
    assert threshold_problems("below", Thresholds(blue=1, red=5))
    assert threshold_problems("above", Thresholds()) == ["at least one level needs a threshold"]
    assert threshold_problems("above", Thresholds(yellow=1, red=1)) == []


@given(coherent_rules(), finite, finite)
def test_a_worse_value_never_gives_a_lower_level(r: RuleSpec, a: float, b: float) -> None:
    assert threshold_problems(r.direction, r.thresholds) == []
    worse, better = (max(a, b), min(a, b)) if r.direction == "above" else (min(a, b), max(a, b))
    hit_worse, hit_better = classify(r, worse), classify(r, better)
    if hit_better is not None:
        assert hit_worse is not None
        assert hit_worse[0].rank >= hit_better[0].rank


@given(coherent_rules(), finite)
def test_the_level_reported_is_one_whose_threshold_was_crossed(r: RuleSpec, value: float) -> None:
    hit = classify(r, value)
    if hit is None:
        return
    level, threshold = hit
    assert r.thresholds.get(level) == threshold
    assert value >= threshold if r.direction == "above" else value <= threshold


# -- ignored quality flags ------------------------------------------------------------------------


def test_a_reading_with_an_ignored_flag_is_left_aside_and_others_are_evaluated() -> None:
    r = replace(rule(blue=10, red=50), ignore_mask=flag_mask(["stuck", "spike"]))
    assert r.ignore_mask == 4 | 8
    assert evaluate(r, 60, 4) is None  # stuck
    assert evaluate(r, 60, 8 | 1) is None  # spike and out of range
    assert evaluate(r, 60, 2) == (Level.RED, 50)  # late only: not ignored by this rule
    assert evaluate(r, 60, 0) == (Level.RED, 50)
    assert evaluate(r, 5, 0) is None  # below every threshold, as before


def test_flag_names_are_the_contracts_kept_once_in_bit_order() -> None:
    assert list(FLAG_BITS) == [name for name, _ in FLAG_NAMES]
    assert FLAG_BITS["out_of_range"] == 1
    assert flag_mask([]) == 0
    assert flag_mask(["late", "out_of_range", "late"]) == 3
    assert flag_mask(["gone_flag"]) == 0  # a flag the contract dropped counts for nothing
    assert flag_names_in_order(["spike", "late", "spike"]) == ["late", "spike"]


@given(coherent_rules(), finite, any_flags)
def test_a_rule_that_ignores_nothing_evaluates_every_reading_as_before(
    r: RuleSpec, value: float, flags: int
) -> None:
    assert r.ignore_mask == 0
    assert evaluate(r, value, flags) == classify(r, value)


@given(coherent_rules(), ignored_names, finite, any_flags)
def test_a_reading_is_left_aside_exactly_when_it_carries_an_ignored_flag(
    r: RuleSpec, names: list[str], value: float, flags: int
) -> None:
    ignoring = replace(r, ignore_mask=flag_mask(names))
    carries_ignored = any(flags & FLAG_BITS[name] for name in names)
    expected = None if carries_ignored else classify(r, value)
    assert evaluate(ignoring, value, flags) == expected


T0 = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
DEVICE = DeviceRef(device_id="gas-001", sector_id="construction", scenario_id="gas")


def alarm_after(r: RuleSpec, readings: list[tuple[float, int]]) -> AlarmState | None:
    """The device's alarm under `r` after its readings (value, flags), applied in order as the
    service applies them: evaluate, then the alarm transition for each breach."""
    state: AlarmState | None = None
    for i, (value, flags) in enumerate(readings):
        hit = evaluate(r, value, flags)
        if hit is None:
            continue
        at = T0 + timedelta(seconds=10 * i)
        breach = Breach(r, DEVICE, value, at, at, hit[0], hit[1])
        state = apply_breach(state, breach, now=at, new_alarm_id="a").state
    return state


@given(
    coherent_rules(),
    ignored_names,
    st.lists(st.tuples(finite, any_flags), max_size=30),
)
def test_ignored_readings_do_to_an_alarm_what_readings_never_sent_would(
    r: RuleSpec, names: list[str], readings: list[tuple[float, int]]
) -> None:
    """Neither raising, nor escalating, nor counting: the alarm after a series is the alarm
    after the same series without its ignored readings (their times aside)."""
    ignoring = replace(r, ignore_mask=flag_mask(names))
    kept = [(v, fl) for v, fl in readings if not fl & ignoring.ignore_mask]
    with_ignored, without = alarm_after(ignoring, readings), alarm_after(r, kept)
    assert (with_ignored is None) == (without is None)
    if with_ignored is not None and without is not None:
        assert (with_ignored.level, with_ignored.value, with_ignored.breach_count) == (
            without.level,
            without.value,
            without.breach_count,
        )
