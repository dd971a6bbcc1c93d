"""The workorder service on its own: `create_app()` for uvicorn."""

from __future__ import annotations

from fastapi import FastAPI

from riskwatch.common.app import build_app
from riskwatch.common.bus import Bus
from riskwatch.workorder.module import WorkOrderModule
from riskwatch.workorder.settings import WorkOrderSettings


def create_app(settings: WorkOrderSettings | None = None, *, bus: Bus | None = None) -> FastAPI:
    settings = settings or WorkOrderSettings()
    return build_app(
        title="RiskWatch workorder",
        description="Work orders: one per alarm, accepted, disposed and closed against a deadline.",
        settings=settings,
        modules=[WorkOrderModule(settings)],
        bus=bus,
    )
