"""HTTP API of alarms."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from riskwatch.alerting.alarms import service
from riskwatch.alerting.alarms.schemas import AlarmPage, AlarmRead, AlarmStatus
from riskwatch.common.access import Permission
from riskwatch.common.auth import Principal, require
from riskwatch.common.deps import ReadSessionDep
from riskwatch.common.events.base import Level
from riskwatch.common.inputs import Key
from riskwatch.common.pagination import DEFAULT_LIMIT, MAX_LIMIT

router = APIRouter(prefix="/api/v1/alarms", tags=["alarms"])

Reader = Annotated[Principal, Depends(require(Permission.ALARMS_READ))]


@router.get("", response_model=AlarmPage)
async def list_alarms(
    session: ReadSessionDep,
    caller: Reader,
    alarm_id: Key | None = None,
    level: Level | None = None,
    status: AlarmStatus | None = None,
    sector_id: Key | None = None,
    device_id: Key | None = None,
    rule_id: Key | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> AlarmPage:
    """Alarms, newest first; filter by alarm, level, status, sector, device or rule."""
    items, next_cursor = await service.list_alarms(
        session,
        alarm_id=alarm_id,
        level=level.value if level else None,
        status=status,
        sector_id=sector_id,
        device_id=device_id,
        rule_id=rule_id,
        cursor=cursor,
        limit=limit,
        scope=caller.scope,
    )
    return AlarmPage(items=[AlarmRead.model_validate(a) for a in items], next_cursor=next_cursor)


@router.get("/{alarm_id}", response_model=AlarmRead)
async def get_alarm(alarm_id: Key, session: ReadSessionDep, caller: Reader) -> AlarmRead:
    return AlarmRead.model_validate(
        await service.get_alarm_or_raise(session, alarm_id=alarm_id, scope=caller.scope)
    )
