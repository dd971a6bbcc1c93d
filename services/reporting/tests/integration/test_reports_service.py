"""The monthly report from the projections: which rows a month loads (duty, unreached alarms,
reach and acknowledgement of escalated alarms too), the sector filter, and the refusals
(malformed month, month not begun, unknown sector)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.catalog import default_catalog
from riskwatch.common.errors import Invalid, NotFound
from riskwatch.common.events import EventPayload, Level
from riskwatch.reporting.projections.handlers import on_event
from riskwatch.reporting.reports.domain import DutyCenterSection, MonthlyReport, ResponseStats
from riskwatch.reporting.reports.service import build_monthly_report, get_alarm_trail

from .. import factories as f

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 5, tzinfo=UTC)
OCT_START = datetime(2026, 9, 30, 16, tzinfo=UTC)  # 1 October, 00:00 in Shanghai
H = timedelta(hours=1)
MIN = timedelta(minutes=1)
S = timedelta(seconds=1)


async def apply(session: AsyncSession, *payloads: EventPayload) -> None:
    for payload in payloads:
        await on_event(session, f.envelope(payload))


async def october(session: AsyncSession, sector_id: str | None = None) -> MonthlyReport:
    return await build_monthly_report(
        session,
        catalog=default_catalog(),
        tz=SHANGHAI,
        month="2026-10",
        sector_id=sector_id,
        now=NOW,
    )


async def seed(session: AsyncSession) -> None:
    t = OCT_START + 24 * H
    await apply(
        session,
        # Gas (construction): yellow, its work order closed on time, an SMS delivered.
        f.raised("gas-1", level=Level.YELLOW, raised_at=t),
        f.wo_created("wo-gas-1", "gas-1", created_at=t + H, due_at=t + 5 * H),
        f.wo_moved("wo-gas-1", "gas-1", "closed", at=t + 3 * H),
        f.dispatched("n-gas-1", "gas-1", at=t + H),
        f.delivered("n-gas-1", "gas-1", at=t + H),
        f.cleared("gas-1", at=t + 3 * H),
        # Flood (emergency): red, its work order still open past due, a voice call failed.
        f.raised("flood-1", level=Level.RED, scenario_id="flood-typhoon", raised_at=t),
        f.wo_created("wo-flood-1", "flood-1", created_at=t, sector_id="emergency"),
        f.dispatched("n-flood-1", "flood-1", at=t, channel="voice"),
        f.failed("n-flood-1", "flood-1", at=t + H, channel="voice"),
        # Raised one second before October in Shanghai: September's.
        f.raised("gas-sep", raised_at=OCT_START - timedelta(seconds=1)),
        # A notification whose alarm has not arrived: counted for the district, not a sector.
        f.dispatched("n-orphan", "not-yet", at=t, channel="webhook"),
    )


async def test_a_month_loads_its_own_rows(session: AsyncSession) -> None:
    await seed(session)
    r = await october(session)
    assert r.alarms.total == 2
    assert r.alarms.by_level == {"blue": 0, "yellow": 1, "orange": 0, "red": 1}
    assert r.alarms.by_sector["construction"] == 1
    assert r.alarms.by_sector["emergency"] == 1
    assert sum(r.alarms.by_sector.values()) == 2
    assert len(r.alarms.by_sector) == len(default_catalog().sectors)
    assert r.alarms.by_status == {"active": 1, "cleared": 1}
    w = r.work_orders
    assert (w.created, w.closed, w.open, w.closed_on_time, w.overdue_open) == (2, 1, 1, 1, 1)
    assert w.on_time_rate == 1.0
    n = r.notifications
    assert (n.total, n.delivered, n.failed, n.pending) == (3, 1, 1, 1)
    assert n.by_channel == {"in_app": 0, "sms": 1, "voice": 1, "webhook": 1, "email": 0}


async def test_a_sector_report_counts_notifications_through_their_alarm(
    session: AsyncSession,
) -> None:
    await seed(session)
    r = await october(session, sector_id="emergency")
    assert r.alarms.total == 1
    assert r.alarms.by_sector == {"emergency": 1}
    assert r.alarms.by_level["red"] == 1
    assert (r.work_orders.created, r.work_orders.open) == (1, 1)
    assert r.work_orders.on_time_rate is None
    assert (r.notifications.total, r.notifications.failed) == (1, 1)
    assert r.notifications.by_channel["voice"] == 1


async def test_september_gets_the_alarm_raised_a_second_before_october(
    session: AsyncSession,
) -> None:
    await seed(session)
    r = await build_monthly_report(
        session, catalog=default_catalog(), tz=SHANGHAI, month="2026-09", sector_id=None, now=NOW
    )
    assert r.alarms.total == 1
    assert r.work_orders.created == 0


async def seed_duty(session: AsyncSession) -> None:
    t = OCT_START + 24 * H  # 2 October, 00:00 in Shanghai
    construction, district = "sector-construction", "district"
    await apply(
        session,
        f.raised("gas-quiet", raised_at=t + 2 * H),  # nobody was notified of it
        f.roster(
            "r-con",
            ("c-1", "p-1"),
            ("c-2", "p-2"),
            start=t,
            published_at=t - 24 * H,
            duty_center_id=construction,
        ),
        f.checked_in("c-1", "p-1", at=t + 5 * MIN, duty_center_id=construction, via="sms"),
        f.checked_in("c-2", "p-2", at=t + 13 * H, late=True, duty_center_id=construction),
        # Version 2 drops c-2; the roster's first publication still counts for on time.
        f.roster(
            "r-con",
            ("c-1", "p-1"),
            version=2,
            start=t,
            published_at=t + H,
            duty_center_id=construction,
        ),
        # Published an hour after its period began: late.
        f.roster(
            "r-dis",
            ("d-1", "p-3"),
            start=t + 48 * H,
            published_at=t + 49 * H,
            duty_center_id=district,
        ),
    )


async def test_duty_and_unreached_alarms_come_from_the_projections(session: AsyncSession) -> None:
    await seed(session)
    await seed_duty(session)
    r = await october(session)
    assert (r.alarms.total, r.alarms.unreached, r.alarms.unreached_ids) == (3, 1, ["gas-quiet"])
    month_minutes = 31 * 24 * 60
    assert r.duty == [
        DutyCenterSection("district", 1, 0, 0.0, 0, month_minutes - 12 * 60, 1, 0),
        DutyCenterSection("sector-construction", 1, 1, 1.0, 0, month_minutes - 12 * 60, 1, 1),
    ]
    construction = await october(session, sector_id="construction")
    assert [d.duty_center_id for d in construction.duty] == ["sector-construction"]
    assert construction.alarms.unreached_ids == ["gas-quiet"]
    emergency = await october(session, sector_id="emergency")
    assert (emergency.duty, emergency.alarms.unreached) == ([], 0)


async def seed_escalation(session: AsyncSession) -> None:
    t = OCT_START + 24 * H
    street, construction, emergency = "street-lujiazui", "sector-construction", "sector-emergency"
    await apply(
        session,
        # Red gas alarm: in the app (delivered), by SMS (no receipt) and the street's group robot
        # at once; the voice reminder acknowledged by keypress; the department head's SMS
        # delivered and answered later.
        f.raised("esc-red", level=Level.RED, raised_at=t),
        f.dispatched("esc-1", "esc-red", at=t, channel="in_app", duty_center_id=street),
        f.delivered("esc-1", "esc-red", at=t + 10 * S, channel="in_app", duty_center_id=street),
        f.dispatched("esc-2", "esc-red", at=t, channel="sms", duty_center_id=street),
        f.delivered("esc-3", "esc-red", at=t + S, channel="webhook", duty_center_id=street),
        f.dispatched("esc-4", "esc-red", at=t + 180 * S, channel="voice", duty_center_id=street),
        f.acknowledged(
            "esc-4", "esc-red", at=t + 200 * S, channel="voice", via="voice", duty_center_id=street
        ),
        f.dispatched("esc-5", "esc-red", at=t + 600 * S, duty_center_id=construction),
        f.delivered("esc-5", "esc-red", at=t + 610 * S, duty_center_id=construction),
        f.acknowledged("esc-5", "esc-red", at=t + 650 * S, via="sms", duty_center_id=construction),
        # Red flood alarm: an SMS the provider took, never confirmed.
        f.raised("esc-flood", level=Level.RED, scenario_id="flood-typhoon", raised_at=t),
        f.dispatched("esc-6", "esc-flood", at=t, duty_center_id=emergency),
        # Yellow gas alarm: acknowledged in the app; its acknowledgement overtook everything.
        f.acknowledged("esc-7", "esc-yellow", at=t + 30 * S, channel="in_app"),
        f.raised("esc-yellow", level=Level.YELLOW, raised_at=t),
    )


def brief(s: ResponseStats) -> tuple[object, ...]:
    via = {k: v for k, v in s.acknowledged_via.items() if v}
    p50, p90 = s.time_to_acknowledge_p50_s, s.time_to_acknowledge_p90_s
    return (s.alarms, s.reached, s.acknowledged, p50, p90, via)


async def test_reach_and_acknowledgement_by_level_and_center(session: AsyncSession) -> None:
    await seed_escalation(session)
    r = (await october(session)).response
    assert brief(r.overall) == (3, 2, 2, 30.0, 200.0, {"api": 1, "voice": 1})
    assert (r.overall.reach_rate, r.overall.acknowledgement_rate) == (2 / 3, 2 / 3)
    assert {level: brief(s) for level, s in r.by_level.items()} == {
        "red": (2, 1, 1, 200.0, 200.0, {"voice": 1}),
        "orange": (0, 0, 0, None, None, {}),
        "yellow": (1, 1, 1, 30.0, 30.0, {"api": 1}),
        "blue": (0, 0, 0, None, None, {}),
    }
    assert {center: brief(s) for center, s in r.by_duty_center.items()} == {
        "district-center": (1, 1, 1, 30.0, 30.0, {"api": 1}),
        "sector-construction": (1, 1, 1, 650.0, 650.0, {"sms": 1}),
        "sector-emergency": (1, 0, 0, None, None, {}),
        "street-lujiazui": (1, 1, 1, 200.0, 200.0, {"voice": 1}),
    }
    assert list(r.by_level) == ["red", "orange", "yellow", "blue"]

    construction = (await october(session, sector_id="construction")).response
    assert brief(construction.overall) == (2, 2, 2, 30.0, 200.0, {"api": 1, "voice": 1})
    assert list(construction.by_duty_center) == [
        "district-center",
        "sector-construction",
        "street-lujiazui",
    ]
    trail = await get_alarm_trail(session, alarm_id="esc-red")
    assert [(n.notification_id, n.acknowledged_via) for n in trail.notifications] == [
        ("esc-1", None),
        ("esc-2", None),
        ("esc-3", None),
        ("esc-4", "voice"),
        ("esc-5", "sms"),
    ]


@pytest.mark.parametrize(
    ("month", "sector_id", "field", "says"),
    [
        ("2026-13", None, "month", "Month '2026-13' does not exist"),
        ("october", None, "month", "The month must be YYYY-MM"),
        ("2026-12", None, "month", "Month 2026-12 has not begun in Asia/Shanghai"),
        ("2026-10", "atlantis", "sector_id", "Unknown sector 'atlantis'."),
    ],
)
async def test_refusals_say_what_is_wrong(
    session: AsyncSession, month: str, sector_id: str | None, field: str, says: str
) -> None:
    with pytest.raises(Invalid) as caught:
        await build_monthly_report(
            session,
            catalog=default_catalog(),
            tz=SHANGHAI,
            month=month,
            sector_id=sector_id,
            now=NOW,
        )
    assert caught.value.detail.startswith(says)
    assert caught.value.extensions == {"field": field}


async def test_an_alarm_nobody_mentioned_is_not_found(session: AsyncSession) -> None:
    with pytest.raises(NotFound):
        await get_alarm_trail(session, alarm_id="never")
