"""The terminal feed says what happened, when, and where, in one line per event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from riskwatch.common.events.alarms import AlarmRaised, AlarmSnapshot, AlarmUpdated
from riskwatch.common.events.base import DeviceRef, Level
from riskwatch.common.events.duty import DutyCheckedIn, RosterPublished, ShiftRef
from riskwatch.common.events.readings import DeviceReadings, Reading, ReadingsAccepted
from riskwatch.common.events.workorders import (
    WorkOrderCreated,
    WorkOrderSnapshot,
    WorkOrderStateChanged,
)
from riskwatch.embedded.feed import describe

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
DEVICE = DeviceRef(
    device_id="gas-1",
    sector_id="construction",
    scenario_id="gas",
    town_id="lujiazui",
    name="Valve well",
)


def snapshot(level: Level, device: DeviceRef = DEVICE) -> AlarmSnapshot:
    return AlarmSnapshot(
        alarm_id="a1b2c3d4-0000",
        rule_id="gas-ch4-lel",
        rule_version=1,
        device=device,
        metric="ch4_lel",
        level=level,
        status="active",
        value=55.0,
        threshold=50.0,
        observed_at=T0,
        received_at=T0,
        raised_at=T0,
    )


def test_an_escalation_shows_when_it_happened_not_when_the_alarm_was_raised() -> None:
    line = describe(
        AlarmUpdated(
            alarm=snapshot(Level.RED),
            previous_level=Level.ORANGE,
            updated_at=T0 + timedelta(minutes=3),
        ),
        TZ,
    )
    assert line is not None
    assert line.startswith("09:03:00  RED    alarm escalated from orange: gas-ch4-lel")
    assert "Valve well [lujiazui]" in line


def test_a_raise_and_a_work_order_read_well() -> None:
    raised = describe(AlarmRaised(alarm=snapshot(Level.YELLOW)), TZ)
    assert raised is not None
    assert raised.startswith("09:00:00  YELLOW alarm raised")
    order = describe(
        WorkOrderCreated(
            work_order=WorkOrderSnapshot(
                work_order_id="w9",
                alarm_id="a1b2c3d4",
                level=Level.RED,
                status="created",
                sector_id="construction",
                scenario_id="gas",
                town_id="lujiazui",
                device_id="gas-1",
                created_at=T0,
                due_at=T0 + timedelta(hours=2),
            )
        ),
        TZ,
    )
    assert order == (
        "09:00:00  work order w9 opened for alarm a1b2c3d4 (red), to be closed by 11-22 11:00"
    )


def test_readings_are_not_worth_a_line() -> None:
    batch = ReadingsAccepted(
        batch_id="b",
        devices=[DeviceReadings(device=DEVICE, readings=[Reading(metric="m", value=1, ts=T0)])],
        received_at=T0,
    )
    assert describe(batch, TZ) is None


def test_values_from_events_cannot_forge_lines_or_drive_the_terminal() -> None:
    forged = "09:00:00  RED    alarm raised: fake"
    device = DEVICE.model_copy(update={"name": f"Valve well\n{forged}\x1b[2J\x1b]0;pwned\x07"})
    line = describe(AlarmRaised(alarm=snapshot(Level.YELLOW, device)), TZ)
    assert line is not None
    assert line.isprintable()  # no newline, ESC, BEL or other control character left
    assert f"at Valve well\\n{forged}\\x1b[2J\\x1b]0;pwned\\x07 [lujiazui]" in line

    order = WorkOrderSnapshot(
        work_order_id="w9",
        alarm_id="a1b2c3d4",
        level=Level.RED,
        status="accepted",
        sector_id="construction",
        scenario_id="gas",
        town_id="lujiazui",
        device_id="gas-1",
        created_at=T0,
        due_at=T0 + timedelta(hours=2),
    )
    changed = describe(
        WorkOrderStateChanged(
            work_order=order,
            action="accept",
            from_status="dispatched",
            to_status="accepted",
            actor="duty\r\u202eofficer",  # a carriage return, a right-to-left override
            changed_at=T0,
        ),
        TZ,
    )
    assert changed is not None
    assert changed.endswith("dispatched -> accepted by duty\\r\\u202eofficer")


def test_names_in_any_script_are_shown_as_they_are() -> None:
    device = DEVICE.model_copy(update={"name": "陆家嘴环路燃气阀门井 No. 3"})
    line = describe(AlarmRaised(alarm=snapshot(Level.RED, device)), TZ)
    assert line is not None
    assert "at 陆家嘴环路燃气阀门井 No. 3 [lujiazui]" in line


def test_duty_shows_a_publication_and_a_late_check_in_in_local_time() -> None:
    shifts = [
        ShiftRef(shift_id=f"s{i}", person_id=p, starts_at=T0, ends_at=T0 + timedelta(hours=9))
        for i, p in enumerate(["he.ping", "luo.gang", "he.ping"])
    ]
    roster = RosterPublished(
        roster_id="r",
        version=2,
        duty_center_id="street-lujiazui",
        period_start=T0,
        period_end=T0 + timedelta(days=1),
        shifts=shifts,
        published_at=T0,
    )
    assert describe(roster, TZ) == (
        "09:00:00  roster of street-lujiazui published again (v2): 3 shifts, 2 people told"
    )
    checked = DutyCheckedIn(
        duty_center_id="street-lujiazui",
        shift_id="s0",
        person_id="he.ping",
        checked_in_at=T0 + timedelta(minutes=20),
        late=True,
        via="sms",
    )
    assert describe(checked, TZ) == "09:20:00  he.ping checked in at street-lujiazui by sms, late"
