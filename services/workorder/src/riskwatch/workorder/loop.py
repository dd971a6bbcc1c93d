"""The closed loop's dependencies, built once per process from the settings and the runtime:
shared by the API (a FastAPI dependency) and the background workers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from riskwatch.common.app import Runtime
from riskwatch.common.deps import settings_dependency
from riskwatch.workorder.manual.service import ManualCache
from riskwatch.workorder.settings import WorkOrderSettings
from riskwatch.workorder.workorders.service import Loop


def loop_of(runtime: Runtime, settings: WorkOrderSettings) -> Loop:
    return Loop(
        policy=settings.disposal_deadlines.policy(),
        manual=runtime.singleton(ManualCache, ManualCache),
        remind_fraction=settings.stage_remind_at,
        catalog=runtime.catalog,
    )


_settings = settings_dependency("workorder", WorkOrderSettings)


def _loop(request: Request) -> Loop:
    runtime: Runtime = request.app.state.runtime
    return loop_of(runtime, _settings(request))


LoopDep = Annotated[Loop, Depends(_loop)]
