"""FastAPI dependencies of the workorder service."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from riskwatch.workorder.settings import WorkOrderSettings


def workorder_settings(request: Request) -> WorkOrderSettings:
    settings: WorkOrderSettings = request.app.state.service_settings["workorder"]
    return settings


WorkOrderSettingsDep = Annotated[WorkOrderSettings, Depends(workorder_settings)]
