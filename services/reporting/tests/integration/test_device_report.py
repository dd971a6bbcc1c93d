"""Devices in the monthly report, from the projections on real PostgreSQL: ingest's status
changes (shuffled and redelivered) give the hand-computed online rate, and its hourly quality
counts (redelivered too) give the month's counts per sector and the most flagged devices."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.catalog import default_catalog
from riskwatch.common.events import EventPayload
from riskwatch.common.events.envelope import Envelope
from riskwatch.reporting.projections.handlers import on_event
from riskwatch.reporting.reports.domain import MonthlyReport
from riskwatch.reporting.reports.service import build_monthly_report

from .. import factories as f

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOV_START = datetime(2026, 10, 31, 16, tzinfo=UTC)  # 1 November, 00:00 in Shanghai; 30 days
NOW = datetime(2026, 12, 5, tzinfo=UTC)
DAY = timedelta(days=1)
H = timedelta(hours=1)


async def november(session: AsyncSession, sector_id: str | None = None) -> MonthlyReport:
    return await build_monthly_report(
        session,
        catalog=default_catalog(),
        tz=SHANGHAI,
        month="2026-11",
        sector_id=sector_id,
        now=NOW,
    )


def two_devices() -> list[EventPayload]:
    """gas-1 online since October; gas-2 too, but offline 3 of November's 30 days; lift-1
    (market) online from the 21st, offline at October's end (not November's business) and
    from the 26th."""
    return [
        *f.status_changes("gas-1", ("online", NOV_START - 20 * DAY)),
        *f.status_changes(
            "gas-2",
            ("online", NOV_START - 20 * DAY),
            ("offline", NOV_START + 9 * DAY),
            ("online", NOV_START + 12 * DAY),
        ),
        *f.status_changes(
            "lift-1",
            ("online", NOV_START - 5 * DAY),
            ("offline", NOV_START - DAY),
            ("online", NOV_START + 20 * DAY),
            ("offline", NOV_START + 25 * DAY),
            scenario_id="elevators",
            town_id=None,
        ),
    ]


async def apply(session: AsyncSession, envelopes: list[Envelope[EventPayload]]) -> None:
    for envelope in envelopes:
        await on_event(session, envelope)


@pytest.mark.parametrize("seed", [0, 1, 2])
async def test_a_month_of_status_changes_gives_the_hand_computed_online_rate(
    session: AsyncSession, seed: int
) -> None:
    envelopes = [f.envelope(p, subject=p.device.device_id) for p in two_devices()]  # type: ignore[attr-defined]
    # Shuffled, and some delivered twice (the same event: the same id).
    rnd = random.Random(seed)
    delivered = [*envelopes, *rnd.sample(envelopes, 3)]
    rnd.shuffle(delivered)
    await apply(session, delivered)
    online = (await november(session)).devices.online
    gas = online.by_sector["construction"]
    assert (gas.devices, gas.rate) == (2, pytest.approx(0.95))
    assert gas.offline_s == 3 * DAY.total_seconds()
    market = online.by_sector["market"]
    # lift-1: observed from its last change before November (offline) on: 20 days offline,
    # 5 online, 5 offline.
    assert (market.devices, market.rate) == (1, pytest.approx(5 / 30))
    assert online.overall.rate == pytest.approx((30 + 27 + 5) / 90)
    assert online.by_scenario["gas"] == gas
    assert online.by_town == {"lujiazui": gas, "none": market}
    assert [(d.device_id, d.name) for d in online.least_online] == [
        ("lift-1", "LIFT-1"),
        ("gas-2", "GAS-2"),
    ]
    construction = (await november(session, "construction")).devices.online
    assert list(construction.by_sector) == ["construction"]
    assert construction.overall.rate == pytest.approx(0.95)


async def test_a_month_in_progress_counts_up_to_now(session: AsyncSession) -> None:
    await apply(session, [f.envelope(p) for p in two_devices()])
    report = await build_monthly_report(
        session,
        catalog=default_catalog(),
        tz=SHANGHAI,
        month="2026-11",
        sector_id=None,
        now=NOV_START + 10 * DAY,
    )
    gas = report.devices.online.by_sector["construction"]
    assert gas.observed_s == 20 * DAY.total_seconds()
    assert gas.rate == pytest.approx(19 / 20)


async def test_the_hourly_quality_counts_make_the_months_counts(session: AsyncSession) -> None:
    hours = [
        f.quality_counted(
            "construction",
            NOV_START + 2 * DAY,
            readings=1000,
            devices={"gas-1": {"out_of_range": 20, "stuck": 10}, "gas-2": {"late": 5}},
        ),
        f.quality_counted(
            "construction",
            NOV_START + 2 * DAY + H,
            readings=1000,
            devices={"gas-2": {"late": 40}},
        ),
        f.quality_counted("market", NOV_START + 3 * DAY, readings=500),
        # October's last hour in Shanghai, and December's first: not November's.
        f.quality_counted("construction", NOV_START - H, readings=7, devices={"gas-1": {"gap": 7}}),
        f.quality_counted(
            "construction", NOV_START + 30 * DAY, readings=7, devices={"gas-1": {"gap": 7}}
        ),
    ]
    envelopes = [f.envelope(p, subject=p.sector_id) for p in hours]
    await apply(session, [*envelopes, *envelopes[:2]])  # redelivered
    # The same sector and hour counted again under another event id changes nothing either.
    await apply(session, [f.envelope(hours[0])])
    quality = (await november(session)).devices.quality
    none = dict.fromkeys(quality.overall.by_flag, 0)
    assert (quality.overall.hours, quality.overall.readings, quality.overall.flagged) == (
        3,
        2500,
        75,
    )
    assert quality.overall.flagged_share == pytest.approx(0.03)
    assert quality.overall.by_flag == {**none, "out_of_range": 20, "stuck": 10, "late": 45}
    construction = quality.by_sector["construction"]
    assert (construction.hours, construction.flagged) == (2, 75)
    assert construction.flagged_share == pytest.approx(0.0375)
    assert (quality.by_sector["market"].readings, quality.by_sector["market"].flagged) == (500, 0)
    assert quality.by_sector["emergency"].hours == 0
    assert [(d.device_id, d.flagged, d.readings) for d in quality.most_flagged] == [
        ("gas-2", 45, 200),
        ("gas-1", 30, 100),
    ]
    assert quality.most_flagged[0].by_flag == {**none, "late": 45}
    assert quality.most_flagged[1].name == "GAS-1"
    market = (await november(session, "market")).devices.quality
    assert list(market.by_sector) == ["market"]
    assert (market.overall.readings, market.most_flagged) == (500, [])
