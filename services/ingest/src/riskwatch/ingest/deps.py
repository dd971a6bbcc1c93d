"""FastAPI dependencies of the ingest service."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from riskwatch.common.deps import settings_dependency
from riskwatch.ingest.settings import IngestSettings

IngestSettingsDep = Annotated[
    IngestSettings, Depends(settings_dependency("ingest", IngestSettings))
]
