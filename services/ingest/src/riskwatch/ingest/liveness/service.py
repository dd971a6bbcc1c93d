"""Use cases of liveness: note the watched devices an accepted batch heard from, fold those
receipts into each device's liveness, mark overdue devices offline, compute the online rate.
Callers own the transaction; status changes are staged in ingest's outbox in it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import Table, bindparam, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.access import DISTRICT, Scope
from riskwatch.common.events import EventPayload, new_event
from riskwatch.common.events.base import DeviceRef
from riskwatch.common.events.device_status import DeviceStatusChanged
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.events.topics import device_status_topic
from riskwatch.common.uptime import Period, Uptime, total, uptime
from riskwatch.ingest.devices.models import Device
from riskwatch.ingest.liveness.domain import Change, Liveness, on_reading, on_tick
from riskwatch.ingest.liveness.domain import offline_after_s as deadline_of
from riskwatch.ingest.liveness.models import DeviceLiveness, DeviceStatusPeriod
from riskwatch.ingest.models import outbox

SOURCE = "/riskwatch/ingest/liveness"
GroupBy = Literal["device", "sector", "scenario", "town"]
# Devices the watcher marks offline, and receipts it folds, per transaction; the rest wait for
# the round's next pass.
OVERDUE_BATCH = 500
SEEN_BATCH = 5000


def _state(row: DeviceLiveness) -> Liveness:
    status: Any = row.status
    return Liveness(status, row.status_since, row.last_seen_at, row.offline_after_s)


async def note_seen(session: AsyncSession, *, device_ids: Iterable[str], at: datetime) -> None:
    """The readings path's part, in its transaction: the watched devices of an accepted batch
    were heard from at `at`. Insert only (no lock, no read); the watcher folds them."""
    ids = list(dict.fromkeys(device_ids))
    if ids:
        await session.execute(_NOTE_SEEN, {"d": ids, "at": at})


_NOTE_SEEN = text(
    "INSERT INTO ingest.device_seen (device_id, seen_at)"
    " SELECT d, :at FROM unnest(CAST(:d AS text[])) d"
)
# Oldest receipts first, claimed so that two watchers never fold the same ones.
_TAKE_SEEN = text(
    "DELETE FROM ingest.device_seen WHERE seen_id IN ("
    " SELECT seen_id FROM ingest.device_seen ORDER BY seen_id LIMIT :n FOR UPDATE SKIP LOCKED"
    ") RETURNING device_id, seen_at"
)


# Plain statements with array parameters: one prepared statement whatever the batch's size
# (a VALUES list or IN list of thousands would be compiled anew each time).
_WATCHED = text(
    "SELECT d.device_id, d.sector_id, d.scenario_id, d.town_id, d.village_id, d.name,"
    " p.profile_id, p.metrics, p.offline_after_intervals"
    " FROM ingest.device d JOIN ingest.device_profile p ON p.profile_id = d.profile_id"
    " WHERE d.device_id = ANY(CAST(:ids AS text[])) ORDER BY d.device_id"
)
_LOCK_LIVENESS = text(  # in device order: one lock order with mark_overdue
    "SELECT device_id, status, status_since, last_seen_at, offline_after_s"
    " FROM ingest.device_liveness WHERE device_id = ANY(CAST(:ids AS text[]))"
    " ORDER BY device_id FOR UPDATE"
)
_UPSERT_LIVENESS = text(
    "INSERT INTO ingest.device_liveness"
    " (device_id, sector_id, last_seen_at, status, status_since, offline_after_s, overdue_at)"
    " SELECT * FROM unnest(CAST(:d AS text[]), CAST(:s AS text[]), CAST(:l AS timestamptz[]),"
    " CAST(:st AS text[]), CAST(:ss AS timestamptz[]), CAST(:o AS int[]),"
    " CAST(:od AS timestamptz[]))"
    " ON CONFLICT (device_id) DO UPDATE SET sector_id = excluded.sector_id,"
    " last_seen_at = excluded.last_seen_at, status = excluded.status,"
    " status_since = excluded.status_since, offline_after_s = excluded.offline_after_s,"
    " overdue_at = excluded.overdue_at"
)


async def fold_seen(
    session: AsyncSession, *, limit: int = SEEN_BATCH
) -> tuple[int, list[Envelope[EventPayload]]]:
    """Fold up to `limit` receipts into each device's liveness: its last receipt, and back
    online as of its first receipt after going offline. Devices without a profile (or whose
    profile names no interval) are not watched. Returns the receipts taken and the status
    changes staged."""
    taken = (await session.execute(_TAKE_SEEN, {"n": limit})).all()
    seen: dict[str, tuple[datetime, datetime]] = {}  # device -> (first, last) receipt
    for device_id, seen_at in taken:
        first, last = seen.get(device_id, (seen_at, seen_at))
        seen[device_id] = (min(first, seen_at), max(last, seen_at))
    if not seen:
        return len(taken), []
    ids = sorted(seen)
    deadlines: dict[str, int | None] = {}  # per profile, worked out once
    watched: dict[str, tuple[DeviceRef, int]] = {}
    for row in (await session.execute(_WATCHED, {"ids": ids})).all():
        if row.profile_id not in deadlines:
            deadlines[row.profile_id] = deadline_of(
                (int(m["interval_s"]) for m in row.metrics), row.offline_after_intervals
            )
        after = deadlines[row.profile_id]
        if after is not None:
            ref = DeviceRef(
                device_id=row.device_id,
                sector_id=row.sector_id,
                scenario_id=row.scenario_id,
                town_id=row.town_id,
                village_id=row.village_id,
                name=row.name,
            )
            watched[row.device_id] = (ref, after)
    if not watched:
        return len(taken), []
    current: dict[str, Liveness] = {
        r.device_id: Liveness(r.status, r.status_since, r.last_seen_at, r.offline_after_s)
        for r in (await session.execute(_LOCK_LIVENESS, {"ids": list(watched)})).all()
    }
    columns: dict[str, list[Any]] = {k: [] for k in ("d", "s", "l", "st", "ss", "o", "od")}
    lapsed: list[tuple[DeviceRef, Change, str | None]] = []
    changes: list[tuple[DeviceRef, Change, str | None]] = []
    for device_id, (ref, after) in watched.items():
        first, last = seen[device_id]
        state = current.get(device_id)
        if state is not None:
            # Silent past its deadline before this receipt, though the watcher had not looked
            # yet: offline as of the deadline all the same (the history never depends on the
            # watcher's cadence).
            tick = on_tick(state, now=first)
            state = tick.state
            if tick.change is not None:
                lapsed.append((ref, tick.change, None))
        step = on_reading(state, seen_at=first, offline_after_s=after)
        change = step.change
        if last != first:
            step = on_reading(step.state, seen_at=last, offline_after_s=after)
        s = step.state
        for key, value in (
            ("d", device_id),
            ("s", ref.sector_id),
            ("l", s.last_seen_at),
            ("st", s.status),
            ("ss", s.status_since),
            ("o", s.offline_after_s),
            ("od", s.overdue_at),
        ):
            columns[key].append(value)
        if change is not None:
            changes.append((ref, change, None))
    await session.execute(_UPSERT_LIVENESS, columns)
    staged = await _apply(session, lapsed)  # closes the online periods first
    return len(taken), staged + await _apply(session, changes)


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
