"""HTTP API of the device registry."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status

from riskwatch.common.access import Permission
from riskwatch.common.auth import Principal, require
from riskwatch.common.deps import AuditDep, CatalogDep, ReadSessionDep, SessionDep
from riskwatch.common.inputs import Key
from riskwatch.common.pagination import DEFAULT_LIMIT, MAX_LIMIT
from riskwatch.ingest.devices import service
from riskwatch.ingest.devices.schemas import DEVICE_ID_PATTERN, DevicePage, DevicePut, DeviceRead

router = APIRouter(prefix="/api/v1/devices", tags=["devices"])

DeviceId = Annotated[str, Path(pattern=DEVICE_ID_PATTERN)]
Reader = Annotated[Principal, Depends(require(Permission.DEVICES_READ))]
Writer = Annotated[Principal, Depends(require(Permission.DEVICES_WRITE))]


@router.get("", response_model=DevicePage)
async def list_devices(
    session: ReadSessionDep,
    caller: Reader,
    sector_id: Key | None = None,
    scenario_id: Key | None = None,
    town_id: Key | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> DevicePage:
    items, next_cursor = await service.list_devices(
        session,
        sector_id=sector_id,
        scenario_id=scenario_id,
        town_id=town_id,
        cursor=cursor,
        limit=limit,
        scope=caller.scope,
    )
    return DevicePage(items=[DeviceRead.model_validate(d) for d in items], next_cursor=next_cursor)


@router.get("/{device_id}", response_model=DeviceRead)
async def get_device(device_id: DeviceId, session: ReadSessionDep, caller: Reader) -> DeviceRead:
    return DeviceRead.model_validate(
        await service.get_device_or_raise(session, device_id=device_id, scope=caller.scope)
    )


@router.put(
    "/{device_id}",
    response_model=DeviceRead,
    responses={201: {"model": DeviceRead, "description": "Registered"}},
)
async def put_device(
    device_id: DeviceId,
    body: DevicePut,
    session: SessionDep,
    catalog: CatalogDep,
    response: Response,
    caller: Writer,
    audit: AuditDep,
) -> DeviceRead:
    """Register a device or replace its registration (idempotent: PUT the same body twice)."""
    device, created = await service.put_device(
        session, catalog=catalog, device_id=device_id, data=body, scope=caller.scope, audit=audit
    )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return DeviceRead.model_validate(device)
