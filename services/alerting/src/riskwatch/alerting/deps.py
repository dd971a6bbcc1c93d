"""FastAPI dependencies of the alerting service."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from riskwatch.alerting.settings import AlertingSettings


def alerting_settings(request: Request) -> AlertingSettings:
    settings: AlertingSettings = request.app.state.service_settings["alerting"]
    return settings


AlertingSettingsDep = Annotated[AlertingSettings, Depends(alerting_settings)]
