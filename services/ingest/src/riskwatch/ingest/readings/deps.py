"""Dependencies of the readings path: its settings and the process's quality state."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import Depends

from riskwatch.common.app import Runtime
from riskwatch.common.deps import RuntimeDep
from riskwatch.ingest.deps import IngestSettingsDep, budgets, device_cache
from riskwatch.ingest.liveness.domain import ReceiptMemory
from riskwatch.ingest.readings.profiles import ProfileCache
from riskwatch.ingest.readings.quality import SeriesMemory
from riskwatch.ingest.readings.service import ReadingsPath, ReadingsQuality
from riskwatch.ingest.settings import IngestSettings


def readings_quality(runtime: Runtime, settings: IngestSettings) -> ReadingsQuality:
    """The process's quality state, shared by the HTTP and MQTT paths."""

    def make() -> ReadingsQuality:
        config = settings.readings
        return ReadingsQuality(
            profiles=ProfileCache(),
            series=SeriesMemory(max_series=config.quality_series),
            rules=config.rules(),
            receipts=ReceiptMemory(every_s=settings.liveness.note_every_s),
        )

    return runtime.singleton(ReadingsQuality, make)


def readings_path(runtime: Runtime, settings: IngestSettings) -> ReadingsPath:
    """The HTTP path's own objects (device cache, sector budgets, quality state) for the
    MQTT subscriber and the Kafka inbound consumers."""
    return ReadingsPath(
        sessions=runtime.consumer_sessions,
        bus=runtime.bus,
        devices=device_cache(runtime, settings),
        budgets=budgets(runtime, settings),
        serves=lambda sector: settings.serves_all_sectors() or sector in settings.sectors,
        future_tolerance=timedelta(seconds=settings.future_tolerance_s),
        publish_timeout_s=settings.publish_timeout_s,
        max_items=settings.max_batch_items,
        quality=readings_quality(runtime, settings),
    )


def quality_dependency(runtime: RuntimeDep, settings: IngestSettingsDep) -> ReadingsQuality:
    return readings_quality(runtime, settings)


QualityDep = Annotated[ReadingsQuality, Depends(quality_dependency)]
