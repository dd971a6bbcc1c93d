"""Accepting a batch against real PostgreSQL and the in-process bus: stored once, published
once per device in time order to the device's sector topic, duplicates not re-published."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.bus import MemoryBus
from riskwatch.common.catalog import default_catalog
from riskwatch.common.events import decode
from riskwatch.common.events.readings import ReadingsAccepted
from riskwatch.ingest.devices.schemas import DevicePut
from riskwatch.ingest.devices.service import put_device
from riskwatch.ingest.readings.models import RawReading
from riskwatch.ingest.readings.service import accept_batch

NOW = datetime.now(UTC).replace(microsecond=0)


async def register(session: AsyncSession, device_id: str, scenario_id: str, town: str) -> None:
    await put_device(
        session,
        catalog=default_catalog(),
        device_id=device_id,
        data=DevicePut(name=device_id, scenario_id=scenario_id, town_id=town),
    )


async def accept(session: AsyncSession, bus: MemoryBus, items: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    return await accept_batch(
        session,
        bus=bus,
        items=items,
        serves=lambda _: True,
        future_tolerance=timedelta(minutes=5),
        now=NOW,
    )


def item(device: str, value: float, seconds: int, metric: str = "m") -> dict[str, object]:
    return {
        "device_id": device,
        "metric": metric,
        "value": value,
        "ts": (NOW - timedelta(seconds=seconds)).isoformat(),
    }


async def test_a_batch_is_stored_and_published_per_device_in_time_order(
    session: AsyncSession,
) -> None:
    await register(session, "gas-1", "gas", "lujiazui")
    await register(session, "flood-1", "flood-typhoon", "chuansha")
    bus = MemoryBus()
    result = await accept(
        session,
        bus,
        [
            item("gas-1", 3.0, 10),
            item("flood-1", 2.5, 30),
            item("gas-1", 1.0, 20),
            item("ghost", 1.0, 5),
        ],
    )
    assert (result.accepted, result.duplicates, len(result.rejected)) == (3, 0, 1)
    assert await session.scalar(select(func.count()).select_from(RawReading)) == 3
    [gas] = bus.records("rw.construction.readings")
    [flood] = bus.records("rw.emergency.readings")
    event = decode(gas.headers, gas.value).data
    assert isinstance(event, ReadingsAccepted)
    assert gas.key == b"gas-1"
    assert [r.value for r in event.readings] == [1.0, 3.0]  # sorted by ts
    assert (event.device.scenario_id, event.device.town_id) == ("gas", "lujiazui")
    assert flood.key == b"flood-1"


async def test_a_resent_batch_is_counted_as_duplicates_and_not_published(
    session: AsyncSession,
) -> None:
    await register(session, "gas-1", "gas", "lujiazui")
    bus = MemoryBus()
    batch = [item("gas-1", 3.0, 10), item("gas-1", 3.0, 10)]  # in-batch duplicate too
    first = await accept(session, bus, batch)
    second = await accept(session, bus, batch)
    assert (first.accepted, first.duplicates) == (2, 1)
    assert (second.accepted, second.duplicates) == (2, 2)
    assert len(bus.records("rw.construction.readings")) == 1
    assert await session.scalar(select(func.count()).select_from(RawReading)) == 1
