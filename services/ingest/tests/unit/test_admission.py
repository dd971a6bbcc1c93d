"""Sector budgets: a request takes its readings from each sector's budget or takes nothing."""

from __future__ import annotations

import limits.aio.storage.memory
import pytest

from riskwatch.common.catalog import default_catalog
from riskwatch.ingest.readings.admission import (
    BatchSlots,
    Overloaded,
    SectorBudgets,
    SectorOverBudget,
)


@pytest.fixture(autouse=True)
def mid_second(monkeypatch: pytest.MonkeyPatch) -> None:
    """The budgets' sliding window reads the wall clock (inside `limits`): held in the middle of
    one second, so two calls can never fall on either side of a window's edge, however slow
    the machine (they did under CI load)."""
    monkeypatch.setattr(limits.aio.storage.memory.time, "time", lambda: 1_790_000_000.5)


async def test_readings_within_the_budget_pass_and_the_rest_wait() -> None:
    budgets = SectorBudgets({"emergency": 100})
    await budgets.admit({"emergency": 60})
    await budgets.admit({"emergency": 40})
    with pytest.raises(SectorOverBudget) as refused:
        await budgets.admit({"emergency": 1})
    assert 1 <= refused.value.retry_after_s <= 2
    assert refused.value.headers() == {"Retry-After": str(refused.value.retry_after_s)}


async def test_a_refused_request_takes_nothing_from_any_sector() -> None:
    budgets = SectorBudgets({"emergency": 100, "construction": 10})
    await budgets.admit({"construction": 8})
    with pytest.raises(SectorOverBudget) as refused:
        await budgets.admit({"emergency": 50, "construction": 5})
    assert refused.value.extensions["sector_id"] == "construction"
    await budgets.admit({"emergency": 100})  # the refused request's 50 were not taken


async def test_sectors_without_a_budget_are_not_limited() -> None:
    budgets = SectorBudgets({"emergency": 1})
    await budgets.admit({"construction": 1_000_000})


async def test_a_batch_larger_than_a_seconds_budget_takes_the_whole_second() -> None:
    budgets = SectorBudgets({"emergency": 100})
    await budgets.admit({"emergency": 500})
    with pytest.raises(SectorOverBudget):
        await budgets.admit({"emergency": 1})


def test_a_budget_for_a_sector_the_catalog_does_not_know_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown sectors: \\['gas'\\]"):
        SectorBudgets.checked({"gas": 10, "emergency": 10}, default_catalog())


def test_a_batch_beyond_the_slots_is_refused_at_once_and_a_slot_comes_back() -> None:
    slots = BatchSlots(2)
    with slots.hold(), slots.hold():
        with pytest.raises(Overloaded) as refused, slots.hold():
            pass
        assert refused.value.headers() == {"Retry-After": "1"}
        assert refused.value.status == 429
    assert slots.in_use == 0
    with slots.hold():
        assert slots.in_use == 1
