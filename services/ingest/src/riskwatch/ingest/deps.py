"""FastAPI dependencies of the ingest service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends

from riskwatch.common.app import Runtime
from riskwatch.common.deps import RuntimeDep, settings_dependency
from riskwatch.ingest.devices.cache import DeviceCache
from riskwatch.ingest.readings.admission import BatchSlots, SectorBudgets
from riskwatch.ingest.settings import IngestSettings

IngestSettingsDep = Annotated[
    IngestSettings, Depends(settings_dependency("ingest", IngestSettings))
]


def device_cache(runtime: RuntimeDep, settings: IngestSettingsDep) -> DeviceCache:
    return runtime.singleton(
        DeviceCache, lambda: DeviceCache(max_entries=settings.device_cache_size)
    )


DeviceCacheDep = Annotated[DeviceCache, Depends(device_cache)]


def budgets(runtime: Runtime, settings: IngestSettings) -> SectorBudgets:
    """The process's sector budgets (made, and checked against the catalog, at start-up)."""
    return runtime.singleton(
        SectorBudgets,
        lambda: SectorBudgets.checked(settings.sector_readings_per_s, runtime.catalog),
    )


def sector_budgets(runtime: RuntimeDep, settings: IngestSettingsDep) -> SectorBudgets:
    return budgets(runtime, settings)


SectorBudgetsDep = Annotated[SectorBudgets, Depends(sector_budgets)]


def batch_slots(runtime: RuntimeDep, settings: IngestSettingsDep) -> BatchSlots:
    return runtime.singleton(BatchSlots, lambda: BatchSlots(settings.max_concurrent_batches))


async def batch_slot(
    slots: Annotated[BatchSlots, Depends(batch_slots)],
) -> AsyncIterator[None]:
    """A slot for one readings request, held until its answer is sent (429 when none)."""
    with slots.hold():
        yield


BatchSlotDep = Annotated[None, Depends(batch_slot)]
