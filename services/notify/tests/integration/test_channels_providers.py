"""Voice and group-robot channels against the provider double served by uvicorn on 127.0.0.1,
the file voice provider on disk, and which channels a configuration builds."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from riskwatch.notify.notifications.channels import (
    Outgoing,
    RobotChannel,
    VoiceChannel,
    channels_from,
    request_summary,
)
from riskwatch.notify.notifications.domain import ChannelKind
from riskwatch.notify.notifications.providers.base import SendError
from riskwatch.notify.notifications.providers.robot import RobotClient
from riskwatch.notify.notifications.providers.voice import FileVoiceProvider, HttpVoiceProvider
from riskwatch.notify.settings import NotifySettings
from riskwatch.notify.testing.providers import ProviderDouble, serving

TOKEN = "voice-token"
PHONE = "13800000401"
TEXT = "红色报警 陆家嘴燃气井1。按1签收。"


@pytest.fixture(scope="module")
def served() -> Iterator[ProviderDouble]:
    with serving(token=TOKEN) as double:
        yield double


@pytest.fixture
def double(served: ProviderDouble) -> ProviderDouble:
    served.reset()
    return served


def call(
    key: str = "a:red:0.1:l1:voice",
    *,
    template_id: str | None = None,
    params: dict[str, str] | None = None,
    recipient: str = PHONE,
) -> Outgoing:
    return Outgoing(
        notification_id="n-voice",
        idempotency_key=key,
        channel=ChannelKind.VOICE,
        recipient=recipient,
        message=TEXT,
        attempt=1,
        template_id=template_id,
        params=params or {},
    )


def voice(double: ProviderDouble, token: str = TOKEN) -> VoiceChannel:
    return VoiceChannel(
        HttpVoiceProvider(double.voice_url, token=SecretStr(token), play_times=3, timeout_s=5)
    )


# -- voice ---------------------------------------------------------------------------------------


async def test_a_call_reads_the_text_out_once_per_key(double: ProviderDouble) -> None:
    channel = voice(double)
    try:
        first = await channel.send(call())
        again = await channel.send(call())  # a retry after a lost answer
    finally:
        await channel.aclose()
    assert channel.provider == "voice-http"
    [placed] = double.calls
    assert (placed.called_number, placed.tts_text, placed.out_id, placed.play_times) == (
        PHONE,
        TEXT,
        "a:red:0.1:l1:voice",
        3,
    )
    assert placed.tts_code is None
    # The gateway's callback tells whether it was answered: sent, not delivered yet.
    assert first == again
    assert (first.delivered, first.provider_message_id) == (False, placed.call_id)


async def test_a_template_call_sends_its_tts_code_and_parameters(double: ProviderDouble) -> None:
    channel = voice(double)
    try:
        await channel.send(call(template_id="TTS_ALARM", params={"place": "陆家嘴"}))
    finally:
        await channel.aclose()
    [placed] = double.calls
    assert (placed.tts_code, placed.tts_param, placed.tts_text) == (
        "TTS_ALARM",
        {"place": "陆家嘴"},
        None,
    )


@pytest.mark.parametrize(
    ("code", "retryable"),
    [("isv.MOBILE_NUMBER_ILLEGAL", False), ("isp.SYSTEM_ERROR", True)],
)
async def test_a_refused_call_is_a_send_error(
    double: ProviderDouble, code: str, retryable: bool
) -> None:
    double.refuse_next(1, kind="voice", code=code)
    channel = voice(double)
    try:
        with pytest.raises(SendError) as caught:
            await channel.send(call())
    finally:
        await channel.aclose()
    assert str(caught.value) == f"voice gateway refused the call ({code})"
    assert caught.value.retryable is retryable
    assert double.calls == []


async def test_a_voice_channel_without_a_number_fails_for_good(double: ProviderDouble) -> None:
    with pytest.raises(SendError) as caught:
        await voice(double).send(call(recipient=""))
    assert not caught.value.retryable


async def test_the_file_voice_provider_writes_each_key_once_to_a_private_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "data" / "voice-outbox.jsonl"
    old_umask = os.umask(0o022)
    try:
        channel = VoiceChannel(FileVoiceProvider(path))
        first = await channel.send(call("k1"))
        again = await VoiceChannel(FileVoiceProvider(path)).send(call("k1"))  # a restart
        await channel.send(call("k2", template_id="TTS_ALARM", params={"level": "red"}))
    finally:
        os.umask(old_umask)
    assert channel.provider == "voice-file"
    assert first == again
    assert first.delivered  # the file is the delivery
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [(x["idempotency_key"], x["to"]) for x in lines] == [("k1", PHONE), ("k2", PHONE)]
    assert lines[1]["template_id"] == "TTS_ALARM"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


# -- group robots --------------------------------------------------------------------------------


def robot(recipient: str) -> Outgoing:
    return Outgoing(
        notification_id="n-robot",
        idempotency_key="a:red:0.0:robot:street-lujiazui:webhook",
        channel=ChannelKind.WEBHOOK,
        recipient=recipient,
        message="[RiskWatch] RED alarm gas-lel at Gas well 1. Alarm 1a2b3c4d.",
        attempt=1,
    )


def robots(hosts: tuple[str, ...] = ("127.0.0.1",)) -> RobotChannel:
    return RobotChannel(RobotClient(allowed_hosts=hosts, timeout_s=5))


@pytest.mark.parametrize("kind", ["wecom", "dingtalk"])
async def test_a_group_robot_gets_the_text(double: ProviderDouble, kind: str) -> None:
    channel = robots()  # no token: the robot's key is in its URL
    try:
        receipt = await channel.send(robot(double.robot_url(kind, "k-" + kind)))  # type: ignore[arg-type]
    finally:
        await channel.aclose()
    assert channel.provider == "robot"
    assert receipt.delivered  # in the group once the robot took it
    [post] = double.robot_posts
    assert (post.kind, post.key, post.content) == (
        kind,
        "k-" + kind,
        "[RiskWatch] RED alarm gas-lel at Gas well 1. Alarm 1a2b3c4d.",
    )


@pytest.mark.parametrize(
    ("kind", "errcode", "retryable"),
    [
        ("wecom", "45009", True),  # WeCom's rate limit
        ("dingtalk", "130101", True),  # DingTalk's: 20 a minute
        ("wecom", "93000", False),  # an invalid webhook
        ("dingtalk", "310000", False),  # the group's keyword or signature check
    ],
)
async def test_a_robot_error_is_retried_only_when_it_is_a_rate_limit(
    double: ProviderDouble, kind: str, errcode: str, retryable: bool
) -> None:
    double.refuse_next(1, kind=kind, code=errcode)  # type: ignore[arg-type]
    channel = robots()
    try:
        with pytest.raises(SendError) as caught:
            await channel.send(robot(double.robot_url(kind)))  # type: ignore[arg-type]
    finally:
        await channel.aclose()
    assert str(caught.value) == f"{kind} robot refused the message (errcode {errcode})"
    assert caught.value.retryable is retryable


@pytest.mark.parametrize(
    ("recipient", "message"),
    [
        ("slack:https://hooks.example.org/x", "a group robot is 'wecom:<url>'"),
        ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send", "a group robot is 'wecom:<url>'"),
        ("wecom:file:///etc/passwd", "the wecom robot's address is not a URL"),
        # Data names the URL: an internal address is never posted to.
        ("wecom:http://10.0.0.7/admin", "host is not among RW_ROBOT_ALLOWED_HOSTS"),
        ("dingtalk:http://127.0.0.1:9/robot", "host is not among RW_ROBOT_ALLOWED_HOSTS"),
    ],
)
async def test_a_robot_address_must_be_a_robots_and_on_an_allowed_host(
    recipient: str, message: str
) -> None:
    with pytest.raises(SendError, match=message) as caught:
        await robots(hosts=("qyapi.weixin.qq.com", "oapi.dingtalk.com")).send(robot(recipient))
    assert not caught.value.retryable


# -- configuration and the log's summary ---------------------------------------------------------


def test_the_default_channels_are_in_app_sms_voice_and_robots_on_files(tmp_path: Path) -> None:
    channels = channels_from(NotifySettings(data_dir=tmp_path))
    assert {k: c.provider for k, c in channels.items()} == {
        ChannelKind.IN_APP: "in_app",
        ChannelKind.SMS: "sms-file",
        ChannelKind.VOICE: "voice-file",
        ChannelKind.WEBHOOK: "robot",
    }


def test_http_providers_are_chosen_by_settings() -> None:
    settings = NotifySettings(
        sms_provider="http",
        sms_http_url="http://127.0.0.1:1/sms/send",
        voice_provider="http",
        voice_http_url="http://127.0.0.1:1/voice/call",
        robot_allowed_hosts="qyapi.weixin.qq.com, 127.0.0.1",  # type: ignore[arg-type]
    )
    channels = channels_from(settings)
    assert channels[ChannelKind.SMS].provider == "sms-http"
    assert channels[ChannelKind.VOICE].provider == "voice-http"
    assert settings.robot_allowed_hosts == ["qyapi.weixin.qq.com", "127.0.0.1"]
    with pytest.raises(ValueError, match="RW_VOICE_HTTP_URL"):
        NotifySettings(voice_provider="http")


def test_the_request_summary_masks_the_recipient_and_keeps_no_secret() -> None:
    summary = request_summary(
        robot("wecom:https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=ROBOT-SECRET")
    )
    assert summary == {"to": "wecom:qyapi.weixin.qq.com"}
    sms = request_summary(
        Outgoing(
            "n",
            "k",
            ChannelKind.SMS,
            "13812345678",
            "text",
            attempt=1,
            template_id="SMS_ALARM",
            params={"level": "red"},
        )
    )
    assert sms == {"to": "138****5678", "template_id": "SMS_ALARM", "params": {"level": "red"}}
