"""The reporting service on its own: `create_app()` for uvicorn."""

from __future__ import annotations

from fastapi import FastAPI

from riskwatch.common.app import build_app
from riskwatch.common.audit.module import AuditModule
from riskwatch.common.bus import Bus
from riskwatch.reporting.module import ReportingModule
from riskwatch.reporting.settings import ReportingSettings


def create_app(settings: ReportingSettings | None = None, *, bus: Bus | None = None) -> FastAPI:
    settings = settings or ReportingSettings()
    return build_app(
        title="RiskWatch reporting",
        description="Read models of the platform's events; the operations reports made of them.",
        settings=settings,
        # Reporting hosts the audit trail's owner: one consumer of rw.audit, GET /api/v1/audit.
        modules=[ReportingModule(settings), AuditModule(settings)],
        bus=bus,
    )
