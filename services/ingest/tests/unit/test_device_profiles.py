"""Device profiles and device rows as the API takes them: a metric's physical range, interval
and precision; unique metrics; a location is a WGS 84 pair; details left out are kept."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from riskwatch.ingest.devices.schemas import DevicePut, MetricSpec, ProfilePut


def spec(**fields: Any) -> dict[str, Any]:
    return {
        "metric": "ch4_lel",
        "unit": "%LEL",
        "min": 0,
        "max": 100,
        "precision": 1,
        "interval_s": 60,
        **fields,
    }


def test_a_profile_defaults_to_offline_after_three_intervals() -> None:
    profile = ProfilePut.model_validate({"name": "Gas well", "metrics": [spec()]})
    assert profile.offline_after_intervals == 3
    assert profile.metrics[0] == MetricSpec.model_validate(spec())


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"min": 5, "max": 5}, "min must be below max"),
        ({"min": 10, "max": -10}, "min must be below max"),
        ({"interval_s": 0}, "greater than 0"),
        ({"interval_s": -60}, "greater than 0"),
        ({"precision": -1}, "greater than or equal to 0"),
        ({"metric": ""}, "pattern"),
        ({"metric": "ch4\nlel"}, "pattern"),
        ({"unit": "x" * 33}, "at most 32"),
        ({"colour": "red"}, "Extra inputs"),
    ],
)
def test_a_metric_that_cannot_be_is_refused(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ProfilePut.model_validate({"name": "p", "metrics": [spec(**fields)]})


def test_a_metric_listed_twice_or_no_metric_is_refused() -> None:
    with pytest.raises(ValidationError, match="metric ch4_lel is listed twice"):
        ProfilePut.model_validate({"name": "p", "metrics": [spec(), spec(unit="ppm")]})
    with pytest.raises(ValidationError, match="at least 1"):
        ProfilePut.model_validate({"name": "p", "metrics": []})
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        ProfilePut.model_validate({"name": "p", "metrics": [spec()], "offline_after_intervals": 0})


@given(
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(allow_nan=False, allow_infinity=False),
)
def test_a_range_is_accepted_exactly_when_min_is_below_max(low: float, high: float) -> None:
    try:
        MetricSpec.model_validate(spec(min=low, max=high))
    except ValidationError:
        assert low >= high
    else:
        assert low < high


def test_a_location_is_a_wgs84_pair() -> None:
    base = {"name": "Well", "scenario_id": "gas"}
    assert DevicePut.model_validate({**base, "lon": 121.5, "lat": 31.2}).lon == 121.5
    for bad in ({"lon": 181, "lat": 31}, {"lon": 121, "lat": -90.5}, {"lon": 121.5}):
        with pytest.raises(ValidationError):
            DevicePut.model_validate({**base, **bad})
    with pytest.raises(ValidationError, match="lon and lat go together"):
        DevicePut.model_validate({**base, "lon": None})


def test_details_left_out_are_not_among_the_values_a_put_sets() -> None:
    old_client = DevicePut.model_validate({"name": "Well", "scenario_id": "gas"})
    assert set(old_client.values()) == {
        "name",
        "scenario_id",
        "town_id",
        "village_id",
        "site",
        "status",
    }
    clearing = DevicePut.model_validate({"name": "Well", "scenario_id": "gas", "address": None})
    assert clearing.values()["address"] is None
