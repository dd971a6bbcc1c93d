"""Use cases of device profiles: what a kind of device measures, in which unit and range, how
often. Profiles are the district's reference data, shared by every sector and town: only a
district-wide account writes them. Callers own the transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import literal_column, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningInsert

from riskwatch.common.access import DISTRICT, Scope
from riskwatch.common.audit.emit import AuditContext
from riskwatch.common.errors import Forbidden, NotFound
from riskwatch.common.pagination import keyset, page_of
from riskwatch.ingest.devices.cache import DEVICES
from riskwatch.ingest.devices.models import DeviceProfile
from riskwatch.ingest.devices.schemas import ProfilePut
from riskwatch.ingest.models import generations


async def put_profile(
    session: AsyncSession,
    *,
    profile_id: str,
    data: ProfilePut,
    now: datetime,
    scope: Scope = DISTRICT,
    audit: AuditContext | None = None,
) -> tuple[DeviceProfile, bool]:
    """Create or replace a profile; returns it and whether it was new."""
    if not scope.is_district:
        raise Forbidden(f"Device profiles are the district's; your scope is {scope}.")
    existing = await session.get(DeviceProfile, profile_id, with_for_update=True)
    before = _snapshot(existing) if existing is not None else None
    values = {"profile_id": profile_id, **data.model_dump(mode="json")}
    upsert = insert(DeviceProfile).values(**values, created_at=now, updated_at=now)
    stmt: ReturningInsert[DeviceProfile, bool] = upsert.on_conflict_do_update(
        index_elements=[DeviceProfile.profile_id],
        set_={k: upsert.excluded[k] for k in values if k != "profile_id"}
        | {"updated_at": upsert.excluded.updated_at},
    ).returning(DeviceProfile, literal_column("xmax = 0").label("created"))
    row = (await session.execute(stmt, execution_options={"populate_existing": True})).one()
    # The readings path caches profiles under the registry's counter (readings/profiles.py).
    await generations.bump(session, DEVICES)
    if audit is not None:
        audit.changed(before, _snapshot(row[0]))
    return row[0], bool(row[1])


def _snapshot(profile: DeviceProfile) -> dict[str, object]:
    return {
        "profile_id": profile.profile_id,
        "name": profile.name,
        "metrics": profile.metrics,
        "offline_after_intervals": profile.offline_after_intervals,
    }


async def get_profile_or_raise(session: AsyncSession, *, profile_id: str) -> DeviceProfile:
    profile = await session.get(DeviceProfile, profile_id)
    if profile is None:
        raise NotFound(f"No device profile {profile_id!r}.")
    return profile


async def list_profiles(
    session: AsyncSession, *, cursor: str | None, limit: int
) -> tuple[list[DeviceProfile], str | None]:
    stmt = keyset(
        select(DeviceProfile),
        at=DeviceProfile.created_at,
        id_=DeviceProfile.profile_id,
        cursor=cursor,
        limit=limit,
    )
    rows = (await session.scalars(stmt)).all()
    return page_of(rows, limit=limit, at="created_at", id_="profile_id")
