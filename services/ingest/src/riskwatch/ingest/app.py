"""The ingest service on its own: `create_app()` for uvicorn."""

from __future__ import annotations

from fastapi import FastAPI

from riskwatch.common.app import ServiceModule, build_app
from riskwatch.common.bus import Bus
from riskwatch.common.identity.module import IdentityModule
from riskwatch.ingest.module import IngestModule
from riskwatch.ingest.settings import IngestSettings


def create_app(settings: IngestSettings | None = None, *, bus: Bus | None = None) -> FastAPI:
    settings = settings or IngestSettings()
    modules: list[ServiceModule] = [IngestModule(settings)]
    if settings.auth.builtin_issuer:  # ingest hosts the token issuer when distributed
        modules.append(IdentityModule(settings))
    return build_app(
        title="RiskWatch ingest",
        description="Readings in: the device registry, the catalog, raw readings.",
        settings=settings,
        modules=modules,
        bus=bus,
    )
