"""The hourly quality counts against real PostgreSQL (committed transactions, as in production):
readings with known flags give the hand-counted totals per sector and device; every (sector,
hour) is staged once in the outbox however many rounds or workers run; missed hours are caught
up within the bound; a reading stored after its hour was counted is not counted again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common.catalog import default_catalog
from riskwatch.common.cli import IDENTITY_MIGRATIONS
from riskwatch.common.db import create_sessionmaker
from riskwatch.common.events import EventPayload, decode
from riskwatch.common.events.base import DeviceRef
from riskwatch.common.events.envelope import Envelope
from riskwatch.common.events.reading_quality import ReadingQualityCounted
from riskwatch.common.events.readings import FLAG_NAMES, Flag
from riskwatch.common.events.topics import READING_QUALITY
from riskwatch.common.testing import engine_for, migrate
from riskwatch.ingest.devices.schemas import DevicePut
from riskwatch.ingest.devices.service import put_device
from riskwatch.ingest.models import outbox
from riskwatch.ingest.module import MIGRATIONS
from riskwatch.ingest.readings.quality_job import (
    CATCH_UP,
    DeviceCount,
    count_due_hours,
    sector_counts,
)

HOUR = datetime(2026, 12, 20, 8, tzinfo=UTC)  # the hour under test: 08:00-09:00Z
NOW = HOUR + timedelta(hours=1, minutes=15)  # 08:00-09:00 is due (10 minutes settled)
SECTORS = ["construction", "market"]
HOURS = int(CATCH_UP / timedelta(hours=1))  # a fresh sector starts this many hours back
OOR, LATE, STUCK, SPIKE = Flag.OUT_OF_RANGE, Flag.LATE, Flag.STUCK, Flag.SPIKE
NONE = {name: 0 for name, _ in FLAG_NAMES}


@pytest.fixture(scope="module")
async def db(make_database: Callable[[str], str]) -> str:
    url = make_database("ingest_quality_job")
    await migrate(url, [MIGRATIONS, IDENTITY_MIGRATIONS])
    return url


@asynccontextmanager
async def worker(db: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Another replica: its own engine and connections."""
    engine = engine_for(db)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def sessions(db: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """This worker's sessions, on an emptied store with three devices (two in construction)."""
    async with worker(db) as made:
        async with made() as session, session.begin():
            await session.execute(
                text(
                    "TRUNCATE ingest.reading, ingest.reading_quality_mark, ingest.outbox,"
                    " ingest.device CASCADE"
                )
            )
            for device_id, scenario in (
                ("gas-1", "gas"),
                ("gas-2", "gas"),
                ("lift-1", "elevators"),
            ):
                await put_device(
                    session,
                    catalog=default_catalog(),
                    device_id=device_id,
                    data=DevicePut(
                        name=device_id.upper(), scenario_id=scenario, town_id="lujiazui"
                    ),
                )
        yield made


async def store(
    sessions: async_sessionmaker[AsyncSession], device_id: str, flags: list[int], *, at: datetime
) -> None:
    """Readings of `device_id` a second apart from `at`, with these flags."""
    async with sessions() as session, session.begin():
        await session.execute(
            text(
                "INSERT INTO ingest.reading (device_id, metric, ts, value, received_at, batch_id,"
                " flags) VALUES (:d, 'm', :ts, 1.0, :ts, 'b', :f)"
            ),
            [
                {"d": device_id, "ts": at + timedelta(seconds=n), "f": int(f)}
                for n, f in enumerate(flags)
            ],
        )


async def the_hour(sessions: async_sessionmaker[AsyncSession]) -> None:
    """gas-1: 10 readings, 2 out of range, 1 stuck and spiking; gas-2: 5 clean; lift-1 (market):
    4 late; readings a second either side of the hour belong to its neighbours."""
    await store(sessions, "gas-1", [0] * 7 + [OOR, OOR, STUCK | SPIKE], at=HOUR)
    await store(sessions, "gas-2", [0] * 5, at=HOUR + timedelta(minutes=30))
    await store(sessions, "lift-1", [LATE] * 4, at=HOUR + timedelta(minutes=59))
    await store(sessions, "gas-2", [OOR], at=HOUR - timedelta(seconds=1))
    await store(sessions, "gas-2", [OOR], at=HOUR + timedelta(hours=1))


async def staged(sessions: async_sessionmaker[AsyncSession]) -> list[ReadingQualityCounted]:
    async with sessions() as session:
        rows = await session.execute(
            select(outbox.table)
            .where(outbox.table.c.topic == READING_QUALITY)  # not the registry's audit records
            .order_by(outbox.table.c.id)
        )
    out = []
    for row in rows:
        envelope = decode([(k, v.encode()) for k, v in row.headers.items()], row.value)
        assert isinstance(envelope.data, ReadingQualityCounted)
        assert row.key == envelope.data.sector_id
        out.append(envelope.data)
    return out


def payloads(envelopes: list[Envelope[EventPayload]]) -> list[ReadingQualityCounted]:
    out = [e.data for e in envelopes]
    assert all(isinstance(p, ReadingQualityCounted) for p in out)
    return out  # type: ignore[return-value]


def counted_once(
    events: list[ReadingQualityCounted],
) -> dict[tuple[str, datetime], ReadingQualityCounted]:
    """The events by sector and hour, each of which has exactly one."""
    out = {(e.sector_id, e.hour_start): e for e in events}
    assert len(out) == len(events)
    return out


async def test_an_hour_is_counted_per_sector_and_device(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await the_hour(sessions)
    events = await count_due_hours(sessions, sectors=SECTORS, now=NOW)
    assert len(events) == 2 * HOURS
    counted = counted_once(await staged(sessions))
    gas = counted["construction", HOUR]
    assert (gas.hour_end, gas.counted_at) == (HOUR + timedelta(hours=1), NOW)
    assert (gas.readings, gas.flagged, gas.devices_flagged) == (15, 3, 1)
    assert gas.by_flag == {**NONE, "out_of_range": 2, "stuck": 1, "spike": 1}
    [device] = gas.devices  # only devices with flagged readings are listed
    assert (device.device.device_id, device.device.name, device.device.scenario_id) == (
        "gas-1",
        "GAS-1",
        "gas",
    )
    assert (device.readings, device.flagged) == (10, 3)
    assert device.by_flag == {**NONE, "out_of_range": 2, "stuck": 1, "spike": 1}
    lift = counted["market", HOUR]
    assert (lift.readings, lift.flagged, lift.by_flag["late"]) == (4, 4, 4)
    # The neighbouring hours got the readings a second outside this one.
    assert counted["construction", HOUR - timedelta(hours=1)].readings == 1
    assert ("construction", HOUR + timedelta(hours=1)) not in counted  # not due yet
    assert counted["market", HOUR - timedelta(hours=5)].readings == 0  # counted, nothing


async def test_a_second_round_counts_nothing_again_and_a_late_reading_is_not_recounted(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await the_hour(sessions)
    first = await count_due_hours(sessions, sectors=SECTORS, now=NOW)
    await store(sessions, "gas-1", [OOR], at=HOUR + timedelta(minutes=40))  # late, after counting
    assert await count_due_hours(sessions, sectors=SECTORS, now=NOW) == []
    assert await count_due_hours(sessions, sectors=SECTORS, now=NOW + timedelta(minutes=40)) == []
    later = await count_due_hours(sessions, sectors=SECTORS, now=NOW + timedelta(hours=3))
    # A restart 3 hours later counts exactly the 3 hours that became due since.
    assert sorted((e.sector_id, e.hour_start) for e in payloads(later)) == [
        (s, HOUR + timedelta(hours=h)) for s in SECTORS for h in (1, 2, 3)
    ]
    events = await staged(sessions)
    assert len(events) == len(first) + len(later)
    assert counted_once(events)["construction", HOUR].flagged == 3


async def test_two_workers_count_each_sector_hour_once(
    db: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await the_hour(sessions)
    async with worker(db) as one, worker(db) as two:
        rounds = await asyncio.gather(
            *(count_due_hours(w, sectors=SECTORS, now=NOW) for w in (one, two, one, two))
        )
    events = await staged(sessions)
    assert sum(len(r) for r in rounds) == len(events) == 2 * HOURS
    assert counted_once(events)["construction", HOUR].readings == 15


async def test_a_sector_another_worker_holds_is_skipped_not_waited_for(
    db: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await count_due_hours(sessions, sectors=SECTORS, now=NOW)
    later = NOW + timedelta(hours=1)
    async with worker(db) as other, other() as holder, holder.begin():
        await holder.execute(
            text("SELECT * FROM ingest.reading_quality_mark WHERE sector_id = 'market' FOR UPDATE")
        )
        mine = await asyncio.wait_for(
            count_due_hours(sessions, sectors=SECTORS, now=later), timeout=10
        )
        assert [e.sector_id for e in payloads(mine)] == ["construction"]
    rest = await count_due_hours(sessions, sectors=SECTORS, now=later)
    assert [e.sector_id for e in payloads(rest)] == ["market"]


async def test_hours_beyond_the_catch_up_are_skipped(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await count_due_hours(sessions, sectors=["market"], now=NOW)
    week_later = NOW + timedelta(days=7)
    events = await count_due_hours(sessions, sectors=["market"], now=week_later)
    assert len(events) == HOURS
    assert payloads(events)[0].hour_start == HOUR + timedelta(days=7) - CATCH_UP + timedelta(
        hours=1
    )


def test_the_most_flagged_devices_are_listed_first_up_to_the_bound() -> None:
    def device(device_id: str, flagged: int) -> DeviceCount:
        ref = DeviceRef(device_id=device_id, sector_id="construction", scenario_id="gas")
        return DeviceCount(ref, 10, flagged, {"out_of_range": flagged})

    counted = sector_counts(
        "construction",
        [device("a", 1), device("b", 5), device("c", 0), device("d", 5)],
        hour_start=HOUR,
        counted_at=NOW,
        listed=2,
    )
    assert [d.device.device_id for d in counted.devices] == ["b", "d"]
    assert (counted.readings, counted.flagged, counted.devices_flagged) == (40, 11, 3)
    assert counted.by_flag == {**NONE, "out_of_range": 11}
