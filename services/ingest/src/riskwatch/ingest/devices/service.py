"""Use cases of the device registry. Callers own the transaction."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy import Boolean, Float, Text, cast, func, literal, literal_column, select
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningInsert

from riskwatch.common.access import DISTRICT, Scope
from riskwatch.common.audit.emit import AuditContext
from riskwatch.common.catalog import Catalog
from riskwatch.common.errors import Forbidden, Invalid, NotFound
from riskwatch.common.pagination import keyset, page_of
from riskwatch.ingest.devices.cache import DEVICES
from riskwatch.ingest.devices.models import Device, DeviceProfile
from riskwatch.ingest.devices.schemas import (
    DEVICE_ID_PATTERN,
    BulkResult,
    BulkRowResult,
    DevicePut,
    DeviceRow,
    RowStatus,
)
from riskwatch.ingest.liveness.models import DeviceLiveness
from riskwatch.ingest.models import generations

# Rows written by one statement of a bulk registration (one INSERT ... ON CONFLICT each): the
# arrays of `unnest` take any number, this keeps one statement's locks and memory bounded.
BULK_CHUNK = 1000
# The columns a registration may set, beside device_id (the placement, status and details).
_COLUMNS = (
    "sector_id", "scenario_id", "town_id", "village_id", "name", "site", "status",
    "profile_id", "lon", "lat", "address", "owner_unit", "gateway_id",
)  # fmt: skip
_FLOAT_COLUMNS = frozenset({"lon", "lat"})


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


async def _known_profiles(session: AsyncSession, profile_ids: Iterable[str | None]) -> set[str]:
    wanted = {p for p in profile_ids if p is not None}
    if not wanted:
        return set()
    found = await session.scalars(
        select(DeviceProfile.profile_id).where(DeviceProfile.profile_id.in_(wanted))
    )
    return set(found)


def _unknown_profile(profile_id: object) -> Invalid:
    return Invalid(f"Unknown device profile {profile_id!r}.", field="profile_id")


async def put_device(
    session: AsyncSession,
    *,
    catalog: Catalog,
    device_id: str,
    data: DevicePut,
    scope: Scope = DISTRICT,
    audit: AuditContext | None = None,
    now: datetime | None = None,
) -> tuple[Device, bool]:
    """Create or replace a device; returns it and whether it was new. A device outside the
    caller's scope is not found; a placement outside it is forbidden. Details it leaves out
    (DETAIL_FIELDS) are kept."""
    now = now or datetime.now(UTC)
    sector_id = _check_catalog(catalog, data)
    values: dict[str, Any] = {"device_id": device_id, "sector_id": sector_id, **data.values()}
    if values.get("profile_id") is not None and not await _known_profiles(
        session, [values["profile_id"]]
    ):
        raise _unknown_profile(values["profile_id"])
    existing = await session.get(Device, device_id, with_for_update=True)
    if existing is not None and not scope.holds(existing):
        raise NotFound(f"No device {device_id!r}.")
    if not scope.admits(sector_id=sector_id, town_id=data.town_id, village_id=data.village_id):
        raise Forbidden(f"The device would be placed outside your scope ({scope}).")
    before = _snapshot(existing) if existing is not None else None
    upsert = insert(Device).values(**values, created_at=now, updated_at=now)
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


def _snapshot(device: Device | Mapping[str, Any]) -> dict[str, object]:
    if isinstance(device, Mapping):
        return {c: device.get(c) for c in _AUDITED}
    return {c: getattr(device, c) for c in _AUDITED}


_AUDITED = (
    "device_id", "sector_id", "scenario_id", "town_id", "village_id", "name",
    "profile_id", "owner_unit", "gateway_id",
)  # fmt: skip


async def get_device_or_raise(
    session: AsyncSession, *, device_id: str, scope: Scope = DISTRICT
) -> Device:
    device = await session.get(Device, device_id)
    if device is None or not scope.holds(device):
        raise NotFound(f"No device {device_id!r}.")
    return device


LivenessFilter = Literal["online", "offline", "never"]


async def list_devices(
    session: AsyncSession,
    *,
    sector_id: str | None,
    scenario_id: str | None,
    town_id: str | None,
    cursor: str | None,
    limit: int,
    scope: Scope = DISTRICT,
    liveness: LivenessFilter | None = None,
) -> tuple[list[Device], str | None]:
    stmt = select(Device).where(scope.on(Device))
    if liveness == "never":
        # Watched (active, with a profile) but never heard from since: nothing to time an
        # offline period from, so only this list shows them.
        heard = select(DeviceLiveness.device_id).where(DeviceLiveness.device_id == Device.device_id)
        stmt = stmt.where(
            Device.status == "active", Device.profile_id.is_not(None), ~heard.exists()
        )
    elif liveness is not None:
        stmt = stmt.join(DeviceLiveness, DeviceLiveness.device_id == Device.device_id).where(
            DeviceLiveness.status == liveness
        )
    if sector_id:
        stmt = stmt.where(Device.sector_id == sector_id)
    if scenario_id:
        stmt = stmt.where(Device.scenario_id == scenario_id)
    if town_id:
        stmt = stmt.where(Device.town_id == town_id)
    stmt = keyset(stmt, at=Device.created_at, id_=Device.device_id, cursor=cursor, limit=limit)
    rows = (await session.scalars(stmt)).all()
    return page_of(rows, limit=limit, at="created_at", id_="device_id")


# -- bulk registration ---------------------------------------------------------------------


@dataclass(slots=True)
class _Candidate:
    row: int
    device_id: str
    values: dict[str, Any]  # device_id, sector_id and the fields the row sets


class _Rejected(Exception):
    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


def _validation_reason(exc: ValidationError) -> _Rejected:
    """What failed, by field and rule; never the values sent (they may be anything)."""
    errors = exc.errors(include_input=False, include_url=False)
    parts = []
    for e in errors[:3]:
        where = ".".join(str(p) for p in e["loc"])
        parts.append(f"{where}: {e['msg']}" if where else str(e["msg"]))
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    first_loc = errors[0]["loc"] if errors else ()
    field = str(first_loc[0]) if first_loc else None
    return _Rejected("; ".join(parts) + more, field)


_DEVICE_ID = re.compile(DEVICE_ID_PATTERN)


def _device_id_of(raw: object) -> str | None:
    """A rejected row's device id, for its result, when it is one (never echo anything else)."""
    if isinstance(raw, Mapping):
        value = raw.get("device_id")
        if isinstance(value, str) and _DEVICE_ID.fullmatch(value):
            return value
    return None


def _parse(
    number: int, raw: object, *, catalog: Catalog, scope: Scope, seen: dict[str, int]
) -> _Candidate:
    if not isinstance(raw, Mapping):
        raise _Rejected("a row is a JSON object of a device's fields")
    try:
        row = DeviceRow.model_validate(raw)
    except ValidationError as exc:
        raise _validation_reason(exc) from None
    try:
        sector_id = _check_catalog(catalog, row)
    except Invalid as exc:
        raise _Rejected(exc.detail, exc.extensions.get("field")) from None
    if not scope.admits(sector_id=sector_id, town_id=row.town_id, village_id=row.village_id):
        raise _Rejected(f"the device would be placed outside your scope ({scope})")
    first = seen.get(row.device_id)
    if first is not None:
        raise _Rejected(f"the device is also on row {first} of this request", "device_id")
    seen[row.device_id] = number
    return _Candidate(number, row.device_id, {"sector_id": sector_id, **row.values()})


async def bulk_put_devices(
    session: AsyncSession,
    *,
    catalog: Catalog,
    rows: Sequence[object],
    now: datetime,
    scope: Scope = DISTRICT,
    audit: AuditContext | None = None,
) -> BulkResult:
    """Create or update many devices, each row on its own: a bad row is rejected with its
    reason and the others go in. Each row is a device_id and a PUT body (details it leaves
    out are kept). Rows equal to what is registered are "unchanged" and not written; the rest
    are written BULK_CHUNK at a time, one INSERT ... ON CONFLICT each. Idempotent."""
    results: dict[int, BulkRowResult] = {}
    candidates: list[_Candidate] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(rows, start=1):
        try:
            candidates.append(_parse(number, raw, catalog=catalog, scope=scope, seen=seen))
        except _Rejected as exc:
            results[number] = BulkRowResult(
                row=number,
                device_id=_device_id_of(raw),
                status="rejected",
                reason=exc.reason,
                field=exc.field,
            )
    profiles = await _known_profiles(session, (c.values.get("profile_id") for c in candidates))
    before: list[dict[str, object]] = []
    after: list[dict[str, object]] = []
    for start in range(0, len(candidates), BULK_CHUNK):
        chunk = candidates[start : start + BULK_CHUNK]
        existing = await _existing(session, [c.device_id for c in chunk])
        writes: list[_Candidate] = []
        for c in chunk:
            status = _verdict(c, existing.get(c.device_id), scope=scope, profiles=profiles)
            if isinstance(status, _Rejected):
                results[c.row] = BulkRowResult(
                    row=c.row,
                    device_id=c.device_id,
                    status="rejected",
                    reason=status.reason,
                    field=status.field,
                )
                continue
            results[c.row] = BulkRowResult(row=c.row, device_id=c.device_id, status=status)
            if status != "unchanged":
                writes.append(c)
                if c.device_id in existing:
                    before.append(_snapshot(existing[c.device_id]))
                after.append(_snapshot({"device_id": c.device_id, **c.values}))
        for device_id, created in await _upsert(session, writes, now=now):
            row = seen[device_id]
            results[row] = results[row].model_copy(
                update={"status": "created" if created else "updated"}
            )
    if any(r.status == "updated" for r in results.values()):
        await generations.bump(session, DEVICES)
    if audit is not None and after:
        audit.changed(before or None, after)
    ordered = [results[n] for n in sorted(results)]
    counts = dict.fromkeys(("created", "updated", "unchanged", "rejected"), 0)
    for r in ordered:
        counts[r.status] += 1
    return BulkResult(**counts, results=ordered)


async def _existing(session: AsyncSession, device_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The registrations of `device_ids` that exist, locked until the transaction ends."""
    if not device_ids:
        return {}
    table = Device.__table__
    rows = await session.execute(
        select(table.c.device_id, *(table.c[c] for c in _COLUMNS))
        .where(table.c.device_id.in_(device_ids))
        .with_for_update()
    )
    return {r["device_id"]: dict(r) for r in rows.mappings()}


def _verdict(
    c: _Candidate, existing: Mapping[str, Any] | None, *, scope: Scope, profiles: set[str]
) -> RowStatus | _Rejected:
    if existing is not None and not scope.admits(
        sector_id=existing["sector_id"],
        town_id=existing["town_id"],
        village_id=existing["village_id"],
    ):
        return _Rejected("the device id is taken outside your scope", "device_id")
    profile_id = c.values.get("profile_id")
    if profile_id is not None and profile_id not in profiles:
        return _Rejected(_unknown_profile(profile_id).detail, "profile_id")
    if existing is None:
        return "created"
    if all(existing[k] == v for k, v in c.values.items() if k != "device_id"):
        return "unchanged"
    return "updated"


async def _upsert(
    session: AsyncSession, writes: list[_Candidate], *, now: datetime
) -> list[tuple[str, bool]]:
    """Write `writes` (one statement per set of columns: one, for rows of one file); returns
    each device id and whether it was inserted."""
    groups: dict[tuple[str, ...], list[_Candidate]] = {}
    for c in writes:
        groups.setdefault(tuple(k for k in _COLUMNS if k in c.values), []).append(c)
    written: list[tuple[str, bool]] = []
    for columns, group in groups.items():
        names = ("device_id", *columns)
        arrays = [
            cast(
                [c.device_id if n == "device_id" else c.values[n] for c in group],
                ARRAY(Float if n in _FLOAT_COLUMNS else Text),
            )
            for n in names
        ]
        rows = func.unnest(*arrays).table_valued(*names).render_derived(name="u")
        source = select(*(rows.c[n] for n in names), literal(now), literal(now))
        upsert = insert(Device).from_select([*names, "created_at", "updated_at"], source)
        stmt: ReturningInsert[str, bool] = upsert.on_conflict_do_update(
            index_elements=[Device.device_id],
            set_={n: upsert.excluded[n] for n in columns}
            | {"updated_at": upsert.excluded.updated_at},
        ).returning(Device.device_id, literal_column("xmax = 0", Boolean))
        written.extend((d, bool(created)) for d, created in await session.execute(stmt))
    return written
