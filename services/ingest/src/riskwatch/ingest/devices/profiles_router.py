"""HTTP API of device profiles: /api/v1/device-profiles."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status

from riskwatch.common.access import Permission
from riskwatch.common.auth import Principal, require
from riskwatch.common.deps import AuditDep, ReadSessionDep, SessionDep
from riskwatch.common.pagination import DEFAULT_LIMIT, MAX_LIMIT
from riskwatch.ingest.devices import profiles
from riskwatch.ingest.devices.schemas import (
    PROFILE_ID_PATTERN,
    ProfilePage,
    ProfilePut,
    ProfileRead,
)

router = APIRouter(prefix="/api/v1/device-profiles", tags=["devices"])

ProfileId = Annotated[str, Path(pattern=PROFILE_ID_PATTERN)]
Reader = Annotated[Principal, Depends(require(Permission.DEVICES_READ))]
Writer = Annotated[Principal, Depends(require(Permission.DEVICES_WRITE))]


@router.get("", response_model=ProfilePage)
async def list_device_profiles(
    session: ReadSessionDep,
    _caller: Reader,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> ProfilePage:
    items, next_cursor = await profiles.list_profiles(session, cursor=cursor, limit=limit)
    return ProfilePage(
        items=[ProfileRead.model_validate(p) for p in items], next_cursor=next_cursor
    )


@router.get("/{profile_id}", response_model=ProfileRead)
async def get_device_profile(
    profile_id: ProfileId, session: ReadSessionDep, _caller: Reader
) -> ProfileRead:
    return ProfileRead.model_validate(
        await profiles.get_profile_or_raise(session, profile_id=profile_id)
    )


@router.put(
    "/{profile_id}",
    response_model=ProfileRead,
    responses={201: {"model": ProfileRead, "description": "Created"}},
)
async def put_device_profile(
    profile_id: ProfileId,
    body: ProfilePut,
    session: SessionDep,
    response: Response,
    caller: Writer,
    audit: AuditDep,
) -> ProfileRead:
    """Create a profile or replace it (idempotent). Per metric: unit, physical range (min below
    max), precision (decimal places) and expected interval between readings; a device is
    offline after `offline_after_intervals` intervals without one. District-wide accounts
    only: profiles are shared by every sector and town."""
    profile, created = await profiles.put_profile(
        session,
        profile_id=profile_id,
        data=body,
        now=datetime.now(UTC),
        scope=caller.scope,
        audit=audit,
    )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return ProfileRead.model_validate(profile)
