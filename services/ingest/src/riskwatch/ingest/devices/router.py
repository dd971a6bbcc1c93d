"""HTTP API of the device registry."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Response, status

from riskwatch.common.access import Permission
from riskwatch.common.auth import Principal, require
from riskwatch.common.deps import AuditDep, CatalogDep, ReadSessionDep, SessionDep
from riskwatch.common.errors import AppError, Invalid, problem_responses
from riskwatch.common.inputs import Key
from riskwatch.common.pagination import DEFAULT_LIMIT, MAX_LIMIT
from riskwatch.ingest.devices import service
from riskwatch.ingest.devices.schemas import (
    DEVICE_ID_PATTERN,
    BulkResult,
    DevicePage,
    DevicePut,
    DeviceRead,
)

PREFIX = "/api/v1/devices"
BULK_PATH = f"{PREFIX}/bulk"
# Rows one bulk request may carry; `riskwatch devices import` sends 1,000 at a time.
BULK_MAX_ROWS = 5000
# Bytes of JSON one row may take, for the bulk route's body limit: a usual row (ids, a name and
# an address of a few dozen characters, a location) is 300-500 bytes, in Chinese too.
BULK_ROW_MAX_BYTES = 1024

router = APIRouter(prefix=PREFIX, tags=["devices"])

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
    liveness: Annotated[
        service.LivenessFilter | None,
        Query(
            description="online or offline now (watched devices), or never: active with a "
            "profile but no reading received yet"
        ),
    ] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> DevicePage:
    items, next_cursor = await service.list_devices(
        session,
        sector_id=sector_id,
        scenario_id=scenario_id,
        town_id=town_id,
        liveness=liveness,
        cursor=cursor,
        limit=limit,
        scope=caller.scope,
    )
    return DevicePage(items=[DeviceRead.model_validate(d) for d in items], next_cursor=next_cursor)


def bulk_max_body_bytes(max_rows: int = BULK_MAX_ROWS) -> int:
    """The body limit of POST /api/v1/devices/bulk (module.bulk_routes)."""
    return max_rows * BULK_ROW_MAX_BYTES


class TooManyRows(AppError):
    status = 413
    code = "too-many-rows"
    title = "Too many rows"


class NothingRegistered(Invalid):
    code = "no-device-registered"
    title = "No row of the request went in"


@router.post(
    "/bulk",
    response_model=BulkResult,
    responses=problem_responses(
        413,
        422,
        descriptions={
            413: f"More than {BULK_MAX_ROWS} rows, or a body larger than they could take",
            422: "Not a JSON array, an empty one, or every row was rejected (`results` says "
            "why for each)",
        },
    ),
)
async def bulk_put_devices(
    rows: Annotated[
        list[Any], Body(description="Devices: each a device_id and the fields of a PUT")
    ],
    session: SessionDep,
    catalog: CatalogDep,
    caller: Writer,
    audit: AuditDep,
) -> BulkResult:
    """Register or update many devices at once, idempotently. Each row is checked on its own:
    a bad one is rejected with its row number (from 1) and reason and the others go in; each
    gets `created`, `updated`, `unchanged` or `rejected`. A device outside the caller's scope,
    or placed outside it, is rejected like any bad row. Details a row leaves out (profile,
    location, address, owner unit, gateway) are kept, as with PUT."""
    if not rows:
        raise Invalid("The request has no rows.")
    if len(rows) > BULK_MAX_ROWS:
        raise TooManyRows(
            f"{len(rows)} rows; at most {BULK_MAX_ROWS} per request.", max_items=BULK_MAX_ROWS
        )
    result = await service.bulk_put_devices(
        session, catalog=catalog, rows=rows, now=datetime.now(UTC), scope=caller.scope, audit=audit
    )
    if result.rejected == len(rows):
        raise NothingRegistered(
            f"All {len(rows)} row(s) were rejected.",
            results=[r.model_dump() for r in result.results],
        )
    return result


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
    """Register a device or replace its registration (idempotent: PUT the same body twice).
    The details (profile_id, lon and lat together, address, owner_unit, gateway_id) are kept
    when left out, cleared when null; gateway_id is any gateway's id, not checked."""
    device, created = await service.put_device(
        session,
        catalog=catalog,
        device_id=device_id,
        data=body,
        scope=caller.scope,
        audit=audit,
        now=datetime.now(UTC),
    )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return DeviceRead.model_validate(device)
