"""FastAPI dependencies of the notify service."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from riskwatch.notify.settings import NotifySettings


def notify_settings(request: Request) -> NotifySettings:
    settings: NotifySettings = request.app.state.service_settings["notify"]
    return settings


NotifySettingsDep = Annotated[NotifySettings, Depends(notify_settings)]
