"""FastAPI dependencies of the ingest service."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from riskwatch.common.app import Runtime
from riskwatch.common.deps import RuntimeDep, settings_dependency
from riskwatch.ingest.devices.cache import DeviceCache
from riskwatch.ingest.readings.admission import SectorBudgets
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
