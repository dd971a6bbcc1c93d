"""FastAPI dependencies of the ingest service."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from riskwatch.common.deps import RuntimeDep, settings_dependency
from riskwatch.ingest.devices.cache import DeviceCache
from riskwatch.ingest.settings import IngestSettings

IngestSettingsDep = Annotated[
    IngestSettings, Depends(settings_dependency("ingest", IngestSettings))
]


def device_cache(runtime: RuntimeDep, settings: IngestSettingsDep) -> DeviceCache:
    return runtime.singleton(
        DeviceCache, lambda: DeviceCache(max_entries=settings.device_cache_size)
    )


DeviceCacheDep = Annotated[DeviceCache, Depends(device_cache)]
