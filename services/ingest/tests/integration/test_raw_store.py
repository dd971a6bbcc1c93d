"""The raw store on real PostgreSQL: quality flags stored with the readings and carried on the
event, daily partitions made ahead and dropped past the retention, a device's series in
buckets and its latest readings."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.bus import MemoryBus
from riskwatch.common.catalog import default_catalog
from riskwatch.common.events import decode
from riskwatch.common.events.readings import ReadingsAccepted
from riskwatch.ingest.devices.cache import DeviceCache
from riskwatch.ingest.devices.profiles import put_profile
from riskwatch.ingest.devices.schemas import DevicePut, MetricSpec, ProfilePut
from riskwatch.ingest.devices.service import put_device
from riskwatch.ingest.liveness.domain import ReceiptMemory
from riskwatch.ingest.readings import store
from riskwatch.ingest.readings.admission import SectorBudgets
from riskwatch.ingest.readings.partitions import day_partition, keep_partitions, partitions
from riskwatch.ingest.readings.profiles import ProfileCache
from riskwatch.ingest.readings.quality import Flag, QualityRules, SeriesMemory
from riskwatch.ingest.readings.service import BatchResult, ReadingsQuality, accept_batch

NOW = datetime.now(UTC).replace(microsecond=0)
TODAY = NOW.date()


async def setup(session: AsyncSession) -> None:
    spec = MetricSpec(metric="ch4_lel", unit="%LEL", min=0, max=100, precision=1, interval_s=60)
    await put_profile(
        session, profile_id="gas-probe", data=ProfilePut(name="probe", metrics=[spec]), now=NOW
    )
    await put_device(
        session,
        catalog=default_catalog(),
        device_id="gas-q1",
        data=DevicePut(
            name="gas-q1", scenario_id="gas", town_id="lujiazui", profile_id="gas-probe"
        ),
    )


def quality(rules: QualityRules | None = None) -> ReadingsQuality:
    return ReadingsQuality(
        ProfileCache(),
        SeriesMemory(max_series=100),
        rules or QualityRules(),
        ReceiptMemory(every_s=5.0),
    )


async def accept(
    session: AsyncSession,
    bus: MemoryBus,
    q: ReadingsQuality,
    readings: list[tuple[float, datetime]],
    devices: DeviceCache | None = None,
) -> BatchResult:
    return await accept_batch(
        session,
        bus=bus,
        devices=devices or DeviceCache(max_entries=10),
        budgets=SectorBudgets({}),
        items=[
            {"device_id": "gas-q1", "metric": "ch4_lel", "value": v, "ts": ts.isoformat()}
            for v, ts in readings
        ],
        serves=lambda _: True,
        future_tolerance=timedelta(minutes=5),
        now=NOW,
        quality=q,
    )


async def stored_flags(session: AsyncSession) -> dict[datetime, int]:
    rows = await session.execute(
        text("SELECT ts, flags FROM ingest.reading WHERE device_id = 'gas-q1' ORDER BY ts")
    )
    return {ts: flags for ts, flags in rows}  # noqa: C416 (rows, not pairs)


async def test_a_stuck_series_is_flagged_and_the_flags_are_stored_and_published(
    session: AsyncSession,
) -> None:
    await setup(session)
    bus, q, cache = MemoryBus(), quality(), DeviceCache(max_entries=10)
    times = [NOW - timedelta(seconds=80 - 10 * i) for i in range(8)]  # none late
    # Two batches: the series carries over from one to the next.
    await accept(session, bus, q, [(7.0, t) for t in times[:4]], cache)
    await accept(session, bus, q, [(7.0, t) for t in times[4:]], cache)
    flags = await stored_flags(session)
    assert [flags[t] for t in times] == [0] * 5 + [Flag.STUCK] * 3  # the 6th equal value on
    last = bus.records("rw.construction.readings")[-1]
    event = decode(last.headers, last.value).data
    assert isinstance(event, ReadingsAccepted)
    assert [r.flags for r in event.devices[0].readings] == [0, Flag.STUCK, Flag.STUCK, Flag.STUCK]


async def test_out_of_range_late_and_spike_are_stored_and_the_readings_kept(
    session: AsyncSession,
) -> None:
    await setup(session)
    bus, q = MemoryBus(), quality()
    late = NOW - timedelta(seconds=121)  # more than 2 x 60 s before it was received
    t1, t2, t3 = (NOW - timedelta(seconds=s) for s in (30, 20, 10))
    result = await accept(session, bus, q, [(5.0, late), (10.0, t1), (120.0, t2), (70.0, t3)])
    assert result.accepted == 4
    assert await stored_flags(session) == {
        late: Flag.LATE,
        t1: Flag.GAP,  # 91 s after the late one: over 1.5 x 60 s, a reading went missing
        t2: Flag.OUT_OF_RANGE | Flag.SPIKE,  # 110 > half of the 0-100 range
        t3: 0,  # 50 down: not more than half
    }


async def test_a_changed_profile_is_seen_by_the_next_batch(session: AsyncSession) -> None:
    await setup(session)
    bus, q, cache = MemoryBus(), quality(), DeviceCache(max_entries=10)
    await accept(session, bus, q, [(150.0, NOW - timedelta(seconds=50))], cache)
    wider = MetricSpec(metric="ch4_lel", unit="%LEL", min=0, max=200, precision=1, interval_s=60)
    await put_profile(
        session, profile_id="gas-probe", data=ProfilePut(name="probe", metrics=[wider]), now=NOW
    )
    await accept(session, bus, q, [(150.0, NOW - timedelta(seconds=40))], cache)
    assert list((await stored_flags(session)).values()) == [Flag.OUT_OF_RANGE, 0]


async def where(session: AsyncSession, ts: datetime) -> str:
    name = await session.scalar(
        text("SELECT tableoid::regclass::text FROM ingest.reading WHERE ts = :ts"), {"ts": ts}
    )
    return str(name)


async def test_partitions_are_made_ahead_and_a_reading_lands_in_its_day(
    session: AsyncSession,
) -> None:
    await setup(session)
    before = NOW - timedelta(seconds=30)
    await accept(session, MemoryBus(), quality(), [(1.0, before)])
    assert await where(session, before) == "ingest.reading_default"  # no partition yet: kept
    done = await keep_partitions(session, today=TODAY, ahead_days=3, retention_days=400)
    have = await partitions(session)
    assert {TODAY + timedelta(days=n) for n in range(4)} <= have.days
    assert done.moved == 1
    assert await where(session, before) == f"ingest.{day_partition(before.date())}"
    after = NOW - timedelta(seconds=20)
    await accept(session, MemoryBus(), quality(), [(2.0, after)])
    assert await where(session, after) == f"ingest.{day_partition(after.date())}"
    again = await keep_partitions(session, today=TODAY, ahead_days=3, retention_days=400)
    assert (again.created, again.dropped) == ([], [])  # idempotent


async def test_retention_drops_whole_old_days_and_keeps_the_rest(session: AsyncSession) -> None:
    await setup(session)
    old_day, kept_day = TODAY - timedelta(days=401), TODAY - timedelta(days=400)
    for day in (old_day, kept_day):
        ts = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)
        await session.execute(
            text(
                "INSERT INTO ingest.reading (device_id, metric, ts, value, received_at, batch_id)"
                " VALUES ('gas-q1', 'ch4_lel', :ts, 1, :ts, 'b')"
            ),
            {"ts": ts},
        )
    # Made with a retention long enough to keep both days, then the real one.
    await keep_partitions(session, today=TODAY, ahead_days=1, retention_days=500)
    assert {old_day, kept_day} <= (await partitions(session)).days
    done = await keep_partitions(session, today=TODAY, ahead_days=1, retention_days=400)
    assert done.dropped == [day_partition(old_day)]
    have = await partitions(session)
    assert old_day not in have.days
    assert kept_day in have.days
    count = await session.scalar(text("SELECT count(*) FROM ingest.reading"))
    assert count == 1


async def test_series_buckets_equal_a_hand_computation(session: AsyncSession) -> None:
    await setup(session)
    hour = NOW.replace(minute=0, second=0) - timedelta(hours=2)
    readings = [
        (10.0, hour + timedelta(minutes=1)),
        (20.0, hour + timedelta(minutes=2)),
        (150.0, hour + timedelta(minutes=3)),  # out of range
        (40.0, hour + timedelta(hours=1, minutes=5)),
    ]
    never_late = QualityRules(late_intervals=1e6)
    await accept(session, MemoryBus(), quality(never_late), readings)
    buckets = await store.series(
        session,
        device_id="gas-q1",
        metric="ch4_lel",
        since=hour,
        until=hour + timedelta(hours=2),
        bucket="1h",
    )
    assert buckets == [
        store.SeriesBucket(hour, 10.0, 150.0, 60.0, 3, 1),  # 150: out of range (and a spike)
        store.SeriesBucket(hour + timedelta(hours=1), 40.0, 40.0, 40.0, 1, 1),  # 110 down: spike
    ]
    clean = await store.series(
        session,
        device_id="gas-q1",
        metric="ch4_lel",
        since=hour,
        until=hour + timedelta(hours=1),
        bucket="1m",
        exclude_flagged=True,
    )
    assert [(b.start.minute, b.avg) for b in clean] == [(1, 10.0), (2, 20.0)]


async def test_latest_is_the_newest_reading_of_each_metric(session: AsyncSession) -> None:
    await setup(session)
    await accept(
        session,
        MemoryBus(),
        quality(),
        [(1.0, NOW - timedelta(seconds=30)), (500.0, NOW - timedelta(seconds=10))],
    )
    await session.execute(
        text(
            "INSERT INTO ingest.reading (device_id, metric, ts, value, received_at, batch_id)"
            " VALUES ('gas-q1', 'temp', :ts, 21.5, :ts, 'b'),"
            " ('gas-q1', 'temp', :old, 3, :old, 'b')"
        ),
        {"ts": NOW - timedelta(minutes=5), "old": NOW - timedelta(days=30)},
    )
    latest = await store.latest(session, device_id="gas-q1", since=NOW - timedelta(days=7))
    assert [(r.metric, r.value, r.flags) for r in latest] == [
        ("ch4_lel", 500.0, Flag.OUT_OF_RANGE | Flag.SPIKE),
        ("temp", 21.5, 0),
    ]


def test_partition_names_are_utc_days() -> None:
    assert day_partition(date(2026, 1, 2)) == "reading_p20260102"
