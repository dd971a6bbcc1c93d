"""Liveness against real PostgreSQL: a batch of readings records each watched device's last
receipt, the watcher marks overdue devices offline as of their deadline, the next reading
brings them back; every change is a history row and a DeviceStatusChanged in ingest's outbox;
the online rate reads the history within the caller's scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.access import Scope
from riskwatch.common.catalog import default_catalog
from riskwatch.common.events import EventPayload, decode
from riskwatch.common.events.device_status import DeviceStatusChanged
from riskwatch.common.events.envelope import Envelope
from riskwatch.ingest.devices import profiles
from riskwatch.ingest.devices.schemas import DevicePut, ProfilePut
from riskwatch.ingest.devices.service import put_device
from riskwatch.ingest.liveness.models import DeviceLiveness, DeviceStatusPeriod
from riskwatch.ingest.liveness.service import fold_seen, mark_overdue, note_seen, online_rate
from riskwatch.ingest.models import outbox

T0 = datetime(2026, 12, 1, tzinfo=UTC)
PROFILE = {
    "name": "Gas well",
    "metrics": [
        {"metric": "ch4_lel", "unit": "%LEL", "min": 0, "max": 100, "precision": 1,
         "interval_s": 60},
        {"metric": "temp", "unit": "C", "min": -40, "max": 85, "precision": 1, "interval_s": 30},
    ],
    "offline_after_intervals": 3,
}  # fmt: skip


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


async def register(
    session: AsyncSession, device_id: str, *, town: str = "lujiazui", profile: bool = True
) -> None:
    data: dict[str, Any] = {"name": device_id, "scenario_id": "gas", "town_id": town}
    if profile:
        data["profile_id"] = "gas-well"
    await put_device(
        session, catalog=default_catalog(), device_id=device_id, data=DevicePut.model_validate(data)
    )


async def setup(session: AsyncSession) -> None:
    await profiles.put_profile(
        session, profile_id="gas-well", data=ProfilePut.model_validate(PROFILE), now=T0
    )
    await register(session, "well-1")
    await register(session, "well-2", town="zhangjiang")
    await register(session, "plain", profile=False)


async def heard(
    session: AsyncSession, *batches: tuple[float, tuple[str, ...]]
) -> list[Envelope[EventPayload]]:
    """The readings path noting each batch's devices at its receipt time, then one fold."""
    for received, device_ids in batches:
        await note_seen(session, device_ids=device_ids, at=at(received))
    _, changes = await fold_seen(session)
    return changes


async def staged(session: AsyncSession) -> list[tuple[str, str | None, DeviceStatusChanged]]:
    rows = (await session.execute(select(outbox.table).order_by(outbox.table.c.id))).all()
    out = []
    for row in rows:
        envelope = decode([(k, v.encode()) for k, v in row.headers.items()], row.value)
        if isinstance(envelope.data, DeviceStatusChanged):
            out.append((row.topic, row.key, envelope.data))
    return out


async def history(session: AsyncSession, device_id: str) -> list[tuple[str, datetime, Any]]:
    rows = await session.scalars(
        select(DeviceStatusPeriod)
        .where(DeviceStatusPeriod.device_id == device_id)
        .order_by(DeviceStatusPeriod.period_id)
    )
    return [(r.status, r.from_at, r.to_at) for r in rows]


async def test_a_device_that_stops_goes_offline_and_comes_back(session: AsyncSession) -> None:
    await setup(session)
    first = await heard(session, (0, ("well-1", "plain")))
    assert [e.subject for e in first] == ["well-1"]  # no profile: not watched
    row = await session.get(DeviceLiveness, "well-1")
    assert row is not None
    assert (row.status, row.offline_after_s, row.last_seen_at) == ("online", 90, at(0))
    assert await session.get(DeviceLiveness, "plain") is None

    await heard(session, (60, ("well-1",)))  # in time: no change
    assert await mark_overdue(session, now=at(150)) == []  # 60 + 90 = 150: not past it yet
    went = await mark_overdue(session, now=at(400))
    assert [e.subject for e in went] == ["well-1"]
    assert await mark_overdue(session, now=at(500)) == []  # once

    came = await heard(session, (600, ("well-1",)))
    assert [e.subject for e in came] == ["well-1"]

    events = await staged(session)
    assert [(t, k, e.status, e.previous_status, e.changed_at) for t, k, e in events] == [
        ("rw.construction.device-status", "well-1", "online", None, at(0)),
        ("rw.construction.device-status", "well-1", "offline", "online", at(150)),
        ("rw.construction.device-status", "well-1", "online", "offline", at(600)),
    ]
    assert events[1][2].device.town_id == "lujiazui"  # the watcher's ref is the registry's
    assert await history(session, "well-1") == [
        ("online", at(0), at(150)),
        ("offline", at(150), at(600)),
        ("online", at(600), None),
    ]


async def test_a_batch_takes_each_devices_latest_receipt(session: AsyncSession) -> None:
    await setup(session)
    await heard(session, (100, ("well-1",)), (40, ("well-1",)))  # one fold
    row = await session.get(DeviceLiveness, "well-1")
    assert row is not None
    assert row.last_seen_at == at(100)
    await heard(session, (70, ("well-1",)))  # an older batch, later
    await session.refresh(row)
    assert row.last_seen_at == at(100)


async def test_silence_past_the_deadline_is_offline_even_if_the_watcher_never_looked(
    session: AsyncSession,
) -> None:
    """The history does not depend on the watcher's cadence: a receipt folded after the
    device's deadline passed unseen records the offline period all the same."""
    await setup(session)
    await heard(session, (0, ("well-1",)))
    changes = await heard(session, (200, ("well-1",)), (260, ("well-1",)))
    assert [(e.data.status, e.data.changed_at) for e in changes] == [  # type: ignore[attr-defined]
        ("offline", at(90)),
        ("online", at(200)),
    ]
    assert await history(session, "well-1") == [
        ("online", at(0), at(90)),
        ("offline", at(90), at(200)),
        ("online", at(200), None),
    ]
    row = await session.get(DeviceLiveness, "well-1")
    assert row is not None
    assert (row.last_seen_at, row.overdue_at) == (at(260), at(350))


async def test_receipts_are_folded_once(session: AsyncSession) -> None:
    await setup(session)
    await note_seen(session, device_ids=["well-1", "well-1", "plain"], at=at(0))
    assert (await fold_seen(session))[0] == 2  # one receipt per device and batch
    assert await fold_seen(session) == (0, [])


async def test_a_retired_device_is_not_marked_offline(session: AsyncSession) -> None:
    await setup(session)
    await heard(session, (0, ("well-1",)))
    await put_device(
        session,
        catalog=default_catalog(),
        device_id="well-1",
        data=DevicePut.model_validate(
            {"name": "w", "scenario_id": "gas", "town_id": "lujiazui", "status": "retired"}
        ),
    )
    assert await mark_overdue(session, now=at(10_000)) == []


async def test_the_online_rate_per_device_and_town_within_scope(session: AsyncSession) -> None:
    await setup(session)
    await heard(session, (0, ("well-1", "well-2")))
    await mark_overdue(session, now=at(1000))  # both offline at 90
    await heard(session, (190, ("well-1",)))  # well-1 back at 190

    def rates(groups: list[Any]) -> dict[str | None, tuple[int, float, float]]:
        return {g.key: (g.devices, g.uptime.online_s, g.uptime.observed_s) for g in groups}

    per_device = await online_rate(
        session, start=at(-3600), end=at(3600), now=at(1000), group_by="device"
    )
    # well-1: online 0-90 and 190-1000 (900 s) of 1000 observed; well-2: 90 of 1000.
    assert rates(per_device) == {"well-1": (1, 900, 1000), "well-2": (1, 90, 1000)}
    per_town = await online_rate(
        session, start=at(-3600), end=at(3600), now=at(1000), group_by="town"
    )
    assert rates(per_town) == {"lujiazui": (1, 900, 1000), "zhangjiang": (1, 90, 1000)}
    per_sector = await online_rate(
        session, start=at(0), end=at(500), now=at(1000), group_by="sector"
    )
    assert rates(per_sector) == {"construction": (2, 90 + 310 + 90, 1000)}
    assert per_sector[0].uptime.rate == 0.49
    in_town = await online_rate(
        session,
        start=at(0),
        end=at(500),
        now=at(1000),
        group_by="device",
        scope=Scope.parse("town:zhangjiang"),
    )
    assert rates(in_town) == {"well-2": (1, 90, 500)}
    before = await online_rate(session, start=at(-100), end=at(0), now=at(1000), group_by="device")
    assert before == []  # before the first reading nothing is observed
