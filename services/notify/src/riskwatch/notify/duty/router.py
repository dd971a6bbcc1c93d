"""HTTP API of duty centers and who is on duty."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from riskwatch.common.access import Permission
from riskwatch.common.auth import Principal, require
from riskwatch.common.deps import ReadSessionDep
from riskwatch.common.inputs import Key, UtcDatetime
from riskwatch.common.pagination import DEFAULT_LIMIT, MAX_LIMIT
from riskwatch.notify.duty import service
from riskwatch.notify.duty.domain import CenterKind
from riskwatch.notify.duty.schemas import (
    DutyCenterPage,
    DutyCenterRead,
    OnDutyPersonRead,
    OnDutyRead,
    ShiftRead,
)

router = APIRouter(prefix="/api/v1/duty-centers", tags=["duty"])

Reader = Annotated[Principal, Depends(require(Permission.DUTY_READ))]


@router.get("", response_model=DutyCenterPage)
async def list_duty_centers(
    session: ReadSessionDep,
    caller: Reader,
    kind: CenterKind | None = None,
    sector_id: Key | None = None,
    town_id: Key | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> DutyCenterPage:
    items, next_cursor = await service.list_duty_centers(
        session,
        kind=kind.value if kind else None,
        sector_id=sector_id,
        town_id=town_id,
        cursor=cursor,
        limit=limit,
        scope=caller.scope,
    )
    return DutyCenterPage(
        items=[DutyCenterRead.model_validate(c) for c in items], next_cursor=next_cursor
    )


@router.get("/{duty_center_id}", response_model=DutyCenterRead)
async def get_duty_center(
    duty_center_id: Key, session: ReadSessionDep, caller: Reader
) -> DutyCenterRead:
    center = await service.get_duty_center_or_raise(
        session, duty_center_id=duty_center_id, scope=caller.scope
    )
    return DutyCenterRead.model_validate(center)


@router.get("/{duty_center_id}/on-duty", response_model=OnDutyRead)
async def get_on_duty(
    duty_center_id: Key,
    session: ReadSessionDep,
    caller: Reader,
    at: UtcDatetime | None = None,
) -> OnDutyRead:
    """Who is on duty in this center now (or at `at`), each with the shift they are on."""
    center = await service.get_duty_center_or_raise(
        session, duty_center_id=duty_center_id, scope=caller.scope
    )
    when = at or datetime.now(UTC)
    by_center = await service.on_duty_at(session, duty_center_ids=[center.duty_center_id], at=when)
    people = [
        OnDutyPersonRead(
            person_id=p.person_id,
            name=p.name,
            phone=p.phone,
            shift=ShiftRead(
                shift_id=p.shift.shift_id, starts_at=p.shift.starts_at, ends_at=p.shift.ends_at
            ),
        )
        for p in by_center.get(center.duty_center_id, [])
    ]
    return OnDutyRead(duty_center_id=center.duty_center_id, at=when, people=people)
