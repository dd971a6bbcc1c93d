"""Use cases of liveness: record a batch of readings, mark overdue devices offline, compute the
online rate. Callers own the transaction; status changes are staged in ingest's outbox in it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.access import DISTRICT, Scope
from riskwatch.common.events import EventPayload, new_event
from riskwatch.common.events.base import DeviceRef
from riskwatch.common.events.device_status import DeviceStatusChanged
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.events.readings import ReadingsAccepted
from riskwatch.common.events.topics import device_status_topic
from riskwatch.ingest.devices.models import Device, DeviceProfile
from riskwatch.ingest.liveness.domain import (
    Change,
    Liveness,
    Period,
    Uptime,
    on_reading,
    on_tick,
    total,
    uptime,
)
from riskwatch.ingest.liveness.domain import offline_after_s as deadline_of
from riskwatch.ingest.liveness.models import DeviceLiveness, DeviceStatusPeriod
from riskwatch.ingest.models import outbox

SOURCE = "/riskwatch/ingest/liveness"
GroupBy = Literal["device", "sector", "scenario", "town"]
# Devices the watcher takes per transaction; the rest wait for its next round (or this one's
# next pass, see mark_overdue).
OVERDUE_BATCH = 500


def _state(row: DeviceLiveness) -> Liveness:
    status: Any = row.status
    return Liveness(status, row.status_since, row.last_seen_at, row.offline_after_s)


async def record_readings(
    session: AsyncSession, *, events: Sequence[Envelope[EventPayload]]
) -> list[Envelope[EventPayload]]:
    """Each device's latest receipt in a batch of `ReadingsAccepted`; devices without a profile
    (or whose profile names no interval) are not watched. Returns the status changes staged."""
    seen: dict[str, tuple[DeviceRef, datetime, str | None]] = {}
    for envelope in events:
        data = envelope.data
        if not isinstance(data, ReadingsAccepted):
            continue
        for group in data.devices:
            ref = group.device
            before = seen.get(ref.device_id)
            if before is None or data.received_at > before[1]:
                seen[ref.device_id] = (ref, data.received_at, envelope.traceparent)
    if not seen:
        return []
    profiles = await session.execute(
        select(Device.device_id, DeviceProfile.metrics, DeviceProfile.offline_after_intervals)
        .join(DeviceProfile, DeviceProfile.profile_id == Device.profile_id)
        .where(Device.device_id.in_(seen))
    )
    deadlines: dict[str, int] = {}
    for device_id, metrics, intervals in profiles:
        after = deadline_of((int(m["interval_s"]) for m in metrics), intervals)
        if after is not None:
            deadlines[device_id] = after
    if not deadlines:
        return []
    rows = await session.scalars(
        select(DeviceLiveness)
        .where(DeviceLiveness.device_id.in_(deadlines))
        .order_by(DeviceLiveness.device_id)  # one lock order with the watcher
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    current = {r.device_id: _state(r) for r in rows}
    values: list[dict[str, object]] = []
    changes: list[tuple[DeviceRef, Change, str | None]] = []
    for device_id in sorted(deadlines):
        ref, received_at, traceparent = seen[device_id]
        step = on_reading(
            current.get(device_id), seen_at=received_at, offline_after_s=deadlines[device_id]
        )
        s = step.state
        values.append(
            {
                "device_id": device_id,
                "sector_id": ref.sector_id,
                "last_seen_at": s.last_seen_at,
                "status": s.status,
                "status_since": s.status_since,
                "offline_after_s": s.offline_after_s,
                "overdue_at": s.overdue_at,
            }
        )
        if step.change is not None:
            changes.append((ref, step.change, traceparent))
    upsert = insert(DeviceLiveness).values(values)
    await session.execute(
        upsert.on_conflict_do_update(
            index_elements=[DeviceLiveness.device_id],
            set_={
                k: upsert.excluded[k]
                for k in (
                    "sector_id",
                    "last_seen_at",
                    "status",
                    "status_since",
                    "offline_after_s",
                    "overdue_at",
                )
            },
        )
    )
    return await _apply(session, changes)


async def mark_overdue(
    session: AsyncSession, *, now: datetime, limit: int = OVERDUE_BATCH
) -> list[Envelope[EventPayload]]:
    """Mark offline the online devices whose deadline passed before `now` (at most `limit`,
    locked with SKIP LOCKED so replicas share the work); returns the changes staged. Retired
    devices are no longer watched."""
    found = await session.execute(
        select(DeviceLiveness, Device)
        .join(Device, Device.device_id == DeviceLiveness.device_id)
        .where(
            DeviceLiveness.status == "online",
            DeviceLiveness.overdue_at < now,
            Device.status == "active",
        )
        .order_by(DeviceLiveness.device_id)
        .limit(limit)
        .with_for_update(of=DeviceLiveness, skip_locked=True)
        .execution_options(populate_existing=True)
    )
    changes: list[tuple[DeviceRef, Change, str | None]] = []
    for row, device in found.all():
        step = on_tick(_state(row), now=now)
        if step.change is None:
            continue
        row.status = step.state.status
        row.status_since = step.state.status_since
        changes.append((_ref(device), step.change, None))
    await session.flush()
    return await _apply(session, changes)


def _ref(device: Device) -> DeviceRef:
    return DeviceRef(
        device_id=device.device_id,
        sector_id=device.sector_id,
        scenario_id=device.scenario_id,
        town_id=device.town_id,
        village_id=device.village_id,
        name=device.name,
    )


async def _apply(
    session: AsyncSession, changes: Sequence[tuple[DeviceRef, Change, str | None]]
) -> list[Envelope[EventPayload]]:
    """The history rows and the DeviceStatusChanged events of status changes."""
    if not changes:
        return []
    closing = [{"d": ref.device_id, "at": c.at} for ref, c, _ in changes if c.previous is not None]
    if closing:
        table = cast("Table", DeviceStatusPeriod.__table__)
        await session.execute(
            update(table)
            .where(table.c.device_id == bindparam("d"), table.c.to_at.is_(None))
            .values(to_at=bindparam("at")),
            closing,
            execution_options={"synchronize_session": False},
        )
    await session.execute(
        insert(DeviceStatusPeriod).values(
            [
                {"device_id": ref.device_id, "status": c.status, "from_at": c.at}
                for ref, c, _ in changes
            ]
        )
    )
    staged = [
        (
            device_status_topic(ref.sector_id),
            new_event(
                DeviceStatusChanged(
                    device=ref,
                    status=c.status,
                    previous_status=c.previous,
                    changed_at=c.at,
                    reason="no_reading" if c.status == "offline" else "reading",
                ),
                source=SOURCE,
                subject=ref.device_id,
                traceparent=traceparent,
            ),
            ref.device_id,
        )
        for ref, c, traceparent in changes
    ]
    await outbox.add_many(session, staged)
    return [e for _, e, _ in staged]


# -- the online rate ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GroupRate:
    key: str | None
    devices: int
    uptime: Uptime


_GROUP_COLUMN = {
    "device": Device.device_id,
    "sector": Device.sector_id,
    "scenario": Device.scenario_id,
    "town": Device.town_id,
}


async def online_rate(
    session: AsyncSession,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    group_by: GroupBy,
    scope: Scope = DISTRICT,
) -> list[GroupRate]:
    """The time-weighted online rate of the watched devices in `scope` over [start, end), per
    group (domain.py has the definitions); groups in key order, devices placed nowhere (no
    town) under the key None. A device with no observed time in the period is left out."""
    stmt = (
        select(
            DeviceStatusPeriod.device_id,
            _GROUP_COLUMN[group_by].label("key"),
            DeviceStatusPeriod.status,
            DeviceStatusPeriod.from_at,
            DeviceStatusPeriod.to_at,
        )
        .join(Device, Device.device_id == DeviceStatusPeriod.device_id)
        .where(
            scope.on(Device),
            DeviceStatusPeriod.from_at < end,
            or_(DeviceStatusPeriod.to_at.is_(None), DeviceStatusPeriod.to_at > start),
        )
        .order_by(DeviceStatusPeriod.device_id, DeviceStatusPeriod.from_at)
    )
    per_device: dict[str, tuple[str | None, list[Period]]] = {}
    for device_id, key, status, from_at, to_at in (await session.execute(stmt)).all():
        state: Any = status
        per_device.setdefault(device_id, (key, []))[1].append(Period(state, from_at, to_at))
    groups: dict[str | None, list[Uptime]] = {}
    for key, periods in per_device.values():
        part = uptime(periods, start=start, end=end, now=now)
        if part.observed_s > 0:
            groups.setdefault(key, []).append(part)
    return [
        GroupRate(key, len(parts), total(parts))
        for key, parts in sorted(groups.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))
    ]
