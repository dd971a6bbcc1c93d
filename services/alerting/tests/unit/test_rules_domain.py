"""Rule evaluation is pure: properties over any thresholds and values."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from riskwatch.alerting.rules.domain import RuleSpec, Thresholds, classify, threshold_problems
from riskwatch.common.events.base import Level

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


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
