"""Use cases of the device registry. Callers own the transaction."""

from __future__ import annotations

from sqlalchemy import literal_column, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningInsert

from riskwatch.common.access import DISTRICT, Scope
from riskwatch.common.audit.emit import AuditContext
from riskwatch.common.catalog import Catalog
from riskwatch.common.errors import Forbidden, Invalid, NotFound
from riskwatch.common.pagination import keyset, page_of
from riskwatch.ingest.devices.cache import DEVICES
from riskwatch.ingest.devices.models import Device
from riskwatch.ingest.devices.schemas import DevicePut
from riskwatch.ingest.models import generations


def _check_catalog(catalog: Catalog, data: DevicePut) -> str:
    sector_id = catalog.sector_of_scenario(data.scenario_id)
    if sector_id is None:
        raise Invalid(f"Unknown scenario {data.scenario_id!r}.", field="scenario_id")
    if data.town_id is not None and catalog.town(data.town_id) is None:
        raise Invalid(f"Unknown town {data.town_id!r}.", field="town_id")
    if data.village_id is not None:
        village = catalog.village(data.village_id)
        if village is None:
            raise Invalid(f"Unknown village {data.village_id!r}.", field="village_id")
        if data.town_id is not None and village.town_id != data.town_id:
            raise Invalid(
                f"Village {data.village_id!r} is not in town {data.town_id!r}.", field="village_id"
            )
    return sector_id


async def put_device(
    session: AsyncSession,
    *,
    catalog: Catalog,
    device_id: str,
    data: DevicePut,
    scope: Scope = DISTRICT,
    audit: AuditContext | None = None,
) -> tuple[Device, bool]:
    """Create or replace a device; returns it and whether it was new. A device outside the
    caller's scope is not found; a placement outside it is forbidden."""
    sector_id = _check_catalog(catalog, data)
    existing = await session.get(Device, device_id, with_for_update=True)
    if existing is not None and not scope.holds(existing):
        raise NotFound(f"No device {device_id!r}.")
    if not scope.admits(sector_id=sector_id, town_id=data.town_id, village_id=data.village_id):
        raise Forbidden(f"The device would be placed outside your scope ({scope}).")
    before = _snapshot(existing) if existing is not None else None
    values = {"device_id": device_id, "sector_id": sector_id, **data.model_dump()}
    upsert = insert(Device).values(**values)
    stmt: ReturningInsert[Device, bool] = upsert.on_conflict_do_update(
        index_elements=[Device.device_id],
        set_={k: upsert.excluded[k] for k in values if k != "device_id"}
        | {"updated_at": upsert.excluded.updated_at},
    ).returning(Device, literal_column("xmax = 0").label("created"))  # xmax 0: inserted
    row = (await session.execute(stmt, execution_options={"populate_existing": True})).one()
    created = bool(row[1])
    if not created:  # caches hold only registered devices: a new one invalidates nothing
        await generations.bump(session, DEVICES)
    if audit is not None:
        audit.changed(before, _snapshot(row[0]))
    return row[0], created


def _snapshot(device: Device) -> dict[str, object]:
    return {c: getattr(device, c) for c in _AUDITED}


_AUDITED = ("device_id", "sector_id", "scenario_id", "town_id", "village_id", "name")


async def get_device_or_raise(
    session: AsyncSession, *, device_id: str, scope: Scope = DISTRICT
) -> Device:
    device = await session.get(Device, device_id)
    if device is None or not scope.holds(device):
        raise NotFound(f"No device {device_id!r}.")
    return device


async def list_devices(
    session: AsyncSession,
    *,
    sector_id: str | None,
    scenario_id: str | None,
    town_id: str | None,
    cursor: str | None,
    limit: int,
    scope: Scope = DISTRICT,
) -> tuple[list[Device], str | None]:
    stmt = select(Device).where(scope.on(Device))
    if sector_id:
        stmt = stmt.where(Device.sector_id == sector_id)
    if scenario_id:
        stmt = stmt.where(Device.scenario_id == scenario_id)
    if town_id:
        stmt = stmt.where(Device.town_id == town_id)
    stmt = keyset(stmt, at=Device.created_at, id_=Device.device_id, cursor=cursor, limit=limit)
    rows = (await session.scalars(stmt)).all()
    return page_of(rows, limit=limit, at="created_at", id_="device_id")
