"""The ingest service on its own: `create_app()` for uvicorn."""

from __future__ import annotations

from fastapi import FastAPI

from riskwatch.common.app import Runtime, build_app
from riskwatch.common.bus import Bus
from riskwatch.common.identity.router import router as identity_router
from riskwatch.common.identity.service import seed_admin
from riskwatch.ingest.module import IngestModule
from riskwatch.ingest.settings import IngestSettings


def create_app(settings: IngestSettings | None = None, *, bus: Bus | None = None) -> FastAPI:
    settings = settings or IngestSettings()
    issuer = settings.auth.builtin_issuer

    async def seed(runtime: Runtime) -> None:
        password = settings.admin_password.get_secret_value() if settings.admin_password else None
        await seed_admin(runtime.sessions, password=password)

    return build_app(
        title="RiskWatch ingest",
        description="Readings in: the device registry, the catalog, raw readings.",
        settings=settings,
        modules=[IngestModule(settings)],
        bus=bus,
        extra_routers=[identity_router] if issuer else [],
        on_startup=[seed] if issuer else [],
    )
