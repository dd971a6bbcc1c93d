"""Batch validation is pure: every item is judged on its own, and one bad item never changes
the verdict on another."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskwatch.ingest.readings.domain import (
    DeviceInfo,
    Reason,
    Rejection,
    device_ids_of,
    validate_batch,
)

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
DEVICES = {
    "gas-1": DeviceInfo("construction", "active"),
    "old-1": DeviceInfo("construction", "retired"),
    "lift-1": DeviceInfo("market", "active"),
}


def check(items: list[Any], serves: set[str] | None = None) -> tuple[list[Any], list[Rejection]]:
    return validate_batch(
        items,
        devices=DEVICES,
        now=NOW,
        future_tolerance=timedelta(minutes=5),
        serves=lambda s: serves is None or s in serves,
    )


def good(**overrides: Any) -> dict[str, Any]:
    item = {"device_id": "gas-1", "metric": "ch4_lel", "value": 3.5, "ts": NOW.isoformat()}
    item.update(overrides)
    return item


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ("not an object", Reason.INVALID_ITEM),
        ({"device_id": "gas-1"}, Reason.INVALID_ITEM),
        (good(extra=1), Reason.INVALID_ITEM),
        (good(device_id=7), Reason.INVALID_DEVICE_ID),
        (good(device_id="gas-1\u0000"), Reason.INVALID_DEVICE_ID),  # PostgreSQL holds no NUL
        (good(device_id="gas\n1"), Reason.INVALID_DEVICE_ID),
        (good(device_id="\ud800"), Reason.INVALID_DEVICE_ID),  # a lone surrogate is not UTF-8
        (good(metric=""), Reason.INVALID_METRIC),
        (good(metric="ch4\u0000"), Reason.INVALID_METRIC),
        (good(value="12.5"), Reason.INVALID_VALUE),
        (good(value=int("9" * 400)), Reason.INVALID_VALUE),  # float() overflows
        (good(value=None), Reason.INVALID_VALUE),
        (good(value=True), Reason.INVALID_VALUE),
        (good(value=float("nan")), Reason.INVALID_VALUE),
        (good(ts="yesterday"), Reason.INVALID_TIMESTAMP),
        (good(ts="2026-11-22T08:00:00"), Reason.INVALID_TIMESTAMP),  # no offset: ambiguous
        (good(ts="0001-01-01T00:00:00+05:00"), Reason.INVALID_TIMESTAMP),  # before UTC year 1
        (good(ts=(NOW + timedelta(hours=2)).isoformat()), Reason.TIMESTAMP_IN_FUTURE),
        (good(device_id="ghost"), Reason.UNKNOWN_DEVICE),
        (good(device_id="old-1"), Reason.DEVICE_RETIRED),
    ],
)
def test_each_kind_of_bad_item_has_its_reason(item: Any, reason: Reason) -> None:
    valid, rejected = check([good(), item, good(value=4)])
    assert [r.index for r in valid] == [0, 2]
    assert [(r.index, r.reason) for r in rejected] == [(1, reason)]
    assert rejected[0].detail


def test_z_suffix_and_small_clock_skew_are_fine() -> None:
    valid, rejected = check([good(ts="2026-11-22T08:04:00Z"), good(value=0)])
    assert len(valid) == 2
    assert rejected == []


def test_ids_that_would_fail_a_query_are_not_looked_up() -> None:
    items = [good(), good(device_id="gas\u00001"), good(device_id="\x1b[2J"), {"device_id": 1}]
    assert device_ids_of(items) == {"gas-1"}


def test_sector_not_served_is_rejected() -> None:
    valid, rejected = check([good(), good(device_id="lift-1")], serves={"construction"})
    assert [r.device_id for r in valid] == ["gas-1"]
    assert rejected[0].reason is Reason.SECTOR_NOT_SERVED


bad_items = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=5),
    st.builds(good, value=st.text(max_size=3)),
    st.builds(good, device_id=st.text(max_size=3).map(lambda t: t + "\x00")),
    st.builds(good, value=st.integers(min_value=10**309)),
    st.builds(good, device_id=st.just("ghost")),
    st.builds(good, ts=st.just("2030-01-01T00:00:00+00:00")),
)
good_items = st.builds(good, value=st.floats(allow_nan=False, allow_infinity=False))


@given(st.lists(st.tuples(st.booleans(), good_items, bad_items), min_size=1, max_size=60))
def test_one_bad_item_rejects_only_itself(choices: list[tuple[bool, Any, Any]]) -> None:
    items = [g if is_good else b for is_good, g, b in choices]
    valid, rejected = check(items)
    assert sorted([r.index for r in valid] + [r.index for r in rejected]) == list(range(len(items)))
    assert [r.index for r in valid] == [i for i, (ok, _, _) in enumerate(choices) if ok]
