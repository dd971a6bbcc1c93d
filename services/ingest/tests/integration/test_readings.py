"""Accepting a batch against real PostgreSQL and the in-process bus: stored once, published
packed one record per partition, each device in time order on its own partition of its
sector's topic, duplicates not re-published; the device cache follows registry changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.bus import MemoryBus, TopicSpec, partition_for
from riskwatch.common.catalog import default_catalog
from riskwatch.common.events import decode
from riskwatch.common.events.readings import ReadingsAccepted
from riskwatch.ingest.devices.cache import DeviceCache
from riskwatch.ingest.devices.schemas import DevicePut
from riskwatch.ingest.devices.service import put_device
from riskwatch.ingest.readings.admission import SectorBudgets, SectorOverBudget
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


async def accept(  # type: ignore[no-untyped-def]
    session: AsyncSession,
    bus: MemoryBus,
    items: list[dict[str, object]],
    devices: DeviceCache | None = None,
    budgets: SectorBudgets | None = None,
):
    return await accept_batch(
        session,
        bus=bus,
        devices=DeviceCache(max_entries=100) if devices is None else devices,
        budgets=SectorBudgets({}) if budgets is None else budgets,
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
    [gas_readings] = event.devices
    assert [r.value for r in gas_readings.readings] == [1.0, 3.0]  # sorted by ts
    assert (gas_readings.device.scenario_id, gas_readings.device.town_id) == ("gas", "lujiazui")
    assert gas.partition == partition_for("gas-1", await bus.partitions(gas.topic))
    flood_event = decode(flood.headers, flood.value).data
    assert isinstance(flood_event, ReadingsAccepted)
    assert [d.device.device_id for d in flood_event.devices] == ["flood-1"]
    assert flood.partition == partition_for("flood-1", await bus.partitions(flood.topic))


async def test_many_devices_travel_one_record_per_partition(session: AsyncSession) -> None:
    ids = [f"gas-{i:03}" for i in range(40)]
    for device_id in ids:
        await register(session, device_id, "gas", "lujiazui")
    bus = MemoryBus()
    await bus.ensure_topics([TopicSpec("rw.construction.readings", 6)])
    result = await accept(session, bus, [item(d, 1.0, 5) for d in ids])
    assert result.accepted == 40
    records = bus.records("rw.construction.readings")
    assert len(records) == len({partition_for(d, 6) for d in ids}) <= 6
    seen: list[str] = []
    for record in records:
        event = decode(record.headers, record.value).data
        assert isinstance(event, ReadingsAccepted)
        for group in event.devices:
            assert partition_for(group.device.device_id, 6) == record.partition
            seen.append(group.device.device_id)
    assert sorted(seen) == ids


async def test_the_device_cache_follows_a_changed_registration(session: AsyncSession) -> None:
    cache = DeviceCache(max_entries=100)
    await register(session, "gas-1", "gas", "lujiazui")
    bus = MemoryBus()
    assert (await accept(session, bus, [item("gas-1", 1.0, 50)], cache)).accepted == 1
    assert len(cache) == 1
    await put_device(  # retired elsewhere (another replica, say): its readings are refused now
        session,
        catalog=default_catalog(),
        device_id="gas-1",
        data=DevicePut(name="gas-1", scenario_id="gas", town_id="lujiazui", status="retired"),
    )
    refused = await accept(session, bus, [item("gas-1", 1.0, 40), item("gas-1", 1.0, 30)], cache)
    assert refused.accepted == 0
    assert {r.reason.value for r in refused.rejected} == {"device_retired"}


async def test_the_device_cache_is_bounded(session: AsyncSession) -> None:
    cache = DeviceCache(max_entries=5)
    ids = [f"gas-{i:03}" for i in range(12)]
    for device_id in ids:
        await register(session, device_id, "gas", "lujiazui")
    result = await accept(session, MemoryBus(), [item(d, 1.0, 5) for d in ids], cache)
    assert result.accepted == 12
    assert len(cache) == 5


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


async def test_a_batch_with_some_readings_stored_before_publishes_only_the_new_ones(
    session: AsyncSession,
) -> None:
    await register(session, "gas-1", "gas", "lujiazui")
    bus = MemoryBus()
    await accept(session, bus, [item("gas-1", 3.0, 30)])
    again = await accept(session, bus, [item("gas-1", 3.0, 30), item("gas-1", 4.0, 20)])
    assert (again.accepted, again.duplicates) == (2, 1)
    _, second = bus.records("rw.construction.readings")
    event = decode(second.headers, second.value).data
    assert isinstance(event, ReadingsAccepted)
    assert [r.value for d in event.devices for r in d.readings] == [4.0]


async def test_a_sector_over_its_budget_is_refused_whole_and_nothing_is_kept(
    session: AsyncSession,
) -> None:
    await register(session, "gas-1", "gas", "lujiazui")
    await register(session, "flood-1", "flood-typhoon", "chuansha")
    budgets = SectorBudgets({"emergency": 3})
    bus = MemoryBus()
    ok = await accept(session, bus, [item("flood-1", 1.0, s) for s in (50, 40)], budgets=budgets)
    assert ok.accepted == 2
    # Three more for emergency: refused whether or not the next second's window has begun (a
    # slow machine): the previous window's two still weigh in the sliding count.
    batch = [item("gas-1", 1.0, 30), *(item("flood-1", 1.0, s) for s in (30, 20, 10))]
    with pytest.raises(SectorOverBudget) as refused:
        await accept(session, bus, batch, budgets=budgets)
    assert refused.value.retry_after_s >= 1
    assert refused.value.extensions["sector_id"] == "emergency"
    # Nothing of the refused request was stored or published, construction's reading neither.
    assert await session.scalar(select(func.count()).select_from(RawReading)) == 2
    assert bus.records("rw.construction.readings") == []
    # Construction has no budget: it is never held back by emergency's.
    assert (await accept(session, bus, [item("gas-1", 1.0, 30)], budgets=budgets)).accepted == 1
