"""Notices about devices' liveness, pure: which technical-alarm event tells what on which
channels, the occasion that keys them, whose scope covers a device, and the texts."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from riskwatch.common.events import Level
from riskwatch.common.events.alarms import AlarmCleared, AlarmRaised, AlarmUpdated, ClearReason
from riskwatch.notify.devices.domain import covers, plan_device_notice
from riskwatch.notify.notifications.domain import CHANNELS, ChannelKind
from riskwatch.notify.templates.domain import (
    SMS_MAX_SEGMENTS,
    TemplateKey,
    Templates,
    device_variables,
    sms_segments,
)

from .. import factories as f

TZ = ZoneInfo("Asia/Shanghai")
ALARM_ID = "0ff11e00-0000-4000-8000-000000000001"


def test_a_technical_alarm_raised_is_an_offline_notice_in_the_app_and_by_sms_capped() -> None:
    plan = plan_device_notice(AlarmRaised(alarm=f.offline(alarm_id=ALARM_ID)))
    assert plan is not None
    assert plan.key is TemplateKey.DEVICE_OFFLINE
    assert plan.occasion == f"device:{ALARM_ID}:offline"
    assert plan.channels == CHANNELS
    assert plan.capped
    assert plan.online_at is None


def test_its_clearing_as_recovered_is_a_back_online_notice_in_the_app() -> None:
    back = f.NOW + timedelta(minutes=7)
    plan = plan_device_notice(
        AlarmCleared(alarm=f.offline(alarm_id=ALARM_ID), cleared_at=back, reason="recovered")
    )
    assert plan is not None
    assert plan.key is TemplateKey.DEVICE_ONLINE
    assert plan.occasion == f"device:{ALARM_ID}:online"
    assert plan.channels == (ChannelKind.IN_APP,)
    assert not plan.capped
    assert plan.online_at == back


@pytest.mark.parametrize("reason", ["manual", "disposed", "false_alarm", "work_order_closed"])
def test_a_clearing_for_another_reason_says_nothing(reason: ClearReason) -> None:
    cleared = AlarmCleared(alarm=f.offline(), cleared_at=f.NOW, reason=reason)
    assert plan_device_notice(cleared) is None


def test_a_safety_alarm_and_a_technical_update_are_no_device_notice() -> None:
    safety = f.alarm(Level.RED)
    assert plan_device_notice(AlarmRaised(alarm=safety)) is None
    recovered = AlarmCleared(alarm=safety, cleared_at=f.NOW, reason="recovered")
    assert plan_device_notice(recovered) is None
    updated = AlarmUpdated(alarm=f.offline(), previous_level=Level.BLUE, updated_at=f.NOW)
    assert plan_device_notice(updated) is None


@pytest.mark.parametrize(
    ("scope", "covered"),
    [
        ("district", True),
        ("sector:construction", True),
        ("sector:power", False),
        ("town:lujiazui", True),
        ("town:gaoqiao", False),
        ("village:v1", True),
        ("village:v2", False),
        ("not a scope", False),
        ("", False),
    ],
)
def test_whose_scope_covers_a_device(scope: str, covered: bool) -> None:
    device = f.device().model_copy(update={"village_id": "v1"})
    assert covers(scope, device) is covered


def test_a_device_without_a_town_is_covered_by_no_town() -> None:
    device = f.device(town_id=None)
    assert not covers("town:lujiazui", device)
    assert covers("sector:construction", device)


def test_the_variables_read_as_local_times_and_spell_ids_for_a_call() -> None:
    alarm = f.offline(alarm_id=ALARM_ID)
    back = f.NOW + timedelta(hours=26, minutes=1)
    zh = device_variables(
        alarm, place="陆家嘴街道", online_at=back, tz=TZ, channel=ChannelKind.SMS, locale="zh-CN"
    )
    assert zh == {
        "device": "Gas well 1(gas-001)",
        "device_id": "gas-001",
        "device_name": "Gas well 1",
        "place": "陆家嘴街道",
        "offline_at": "11-02 03:00",
        "online_at": "11-03 05:01",
        "down_for": "26小时1分钟",
        "alarm_ref": "0ff11e00",
    }
    voice = device_variables(
        alarm, place=None, online_at=None, tz=TZ, channel=ChannelKind.VOICE, locale="en"
    )
    assert (voice["device"], voice["device_id"], voice["alarm_ref"]) == (
        "Gas well 1",
        "gas 0 0 1",
        "0 f f 1 1 e 0 0",
    )
    assert (voice["online_at"], voice["down_for"]) == ("", "")


@given(
    name=st.text(min_size=0, max_size=60),
    device_id=st.from_regex(r"[a-z0-9][a-z0-9_-]{0,63}", fullmatch=True),
    key=st.sampled_from([TemplateKey.DEVICE_OFFLINE, TemplateKey.DEVICE_ONLINE]),
    locale=st.sampled_from(["zh-CN", "en"]),
)
def test_a_device_sms_never_takes_more_than_two_segments(
    name: str, device_id: str, key: TemplateKey, locale: str
) -> None:
    """However long the device's name (and an id of up to 64 characters), the SMS drops the
    place, then the name, to stay within two segments."""
    dev = f.device(device_id).model_copy(update={"name": name or None})
    variables = device_variables(
        f.offline(dev),
        place="陆家嘴街道" if locale == "zh-CN" else "Lujiazui Street",
        online_at=f.NOW + timedelta(minutes=90) if key is TemplateKey.DEVICE_ONLINE else None,
        tz=TZ,
        channel=ChannelKind.SMS,
        locale=locale,
    )
    text = Templates().render(key, ChannelKind.SMS, locale, variables).text
    assert sms_segments(text) <= SMS_MAX_SEGMENTS, text
