"""The notify service on its own: `create_app()` for uvicorn."""

from __future__ import annotations

from fastapi import FastAPI

from riskwatch.common.app import build_app
from riskwatch.common.bus import Bus
from riskwatch.notify.module import NotifyModule
from riskwatch.notify.settings import NotifySettings


def create_app(settings: NotifySettings | None = None, *, bus: Bus | None = None) -> FastAPI:
    settings = settings or NotifySettings()
    return build_app(
        title="RiskWatch notify",
        description="Duty centers and shifts; alarms to whoever is on duty, in the app and by SMS.",
        settings=settings,
        modules=[NotifyModule(settings)],
        bus=bus,
    )
