"""The alerting service on its own: `create_app()` for uvicorn."""

from __future__ import annotations

from fastapi import FastAPI

from riskwatch.alerting.module import AlertingModule
from riskwatch.alerting.settings import AlertingSettings
from riskwatch.common.app import build_app
from riskwatch.common.bus import Bus


def create_app(settings: AlertingSettings | None = None, *, bus: Bus | None = None) -> FastAPI:
    settings = settings or AlertingSettings()
    return build_app(
        title="RiskWatch alerting",
        description="Threshold rules and alarms: readings in, graded alarms out.",
        settings=settings,
        modules=[AlertingModule(settings)],
        bus=bus,
    )
