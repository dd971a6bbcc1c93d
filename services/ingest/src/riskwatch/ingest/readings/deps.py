"""Dependencies of the readings path: its settings and the process's quality state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from riskwatch.common.app import Runtime
from riskwatch.common.deps import RuntimeDep
from riskwatch.ingest.deps import IngestSettingsDep
from riskwatch.ingest.liveness.domain import ReceiptMemory
from riskwatch.ingest.readings.profiles import ProfileCache
from riskwatch.ingest.readings.quality import SeriesMemory
from riskwatch.ingest.readings.service import ReadingsQuality
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


def quality_dependency(runtime: RuntimeDep, settings: IngestSettingsDep) -> ReadingsQuality:
    return readings_quality(runtime, settings)


QualityDep = Annotated[ReadingsQuality, Depends(quality_dependency)]
