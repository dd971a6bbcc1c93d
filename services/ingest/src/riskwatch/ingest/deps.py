"""FastAPI dependencies of the ingest service."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from riskwatch.ingest.settings import IngestSettings


def ingest_settings(request: Request) -> IngestSettings:
    settings: IngestSettings = request.app.state.service_settings["ingest"]
    return settings


IngestSettingsDep = Annotated[IngestSettings, Depends(ingest_settings)]
