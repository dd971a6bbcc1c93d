"""Delivery channels behind one interface, `Channel.send(Outgoing) -> Receipt`: in-app (the row
itself), SMS and voice through their provider adapters (sms.py, providers/voice.py), a duty
center's group robot (providers/robot.py) and e-mail (providers/email.py). Each names its
provider, for the delivery log and the provider's circuit breaker."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from riskwatch.notify.notifications.domain import ChannelKind, mask_recipient
from riskwatch.notify.notifications.providers.base import Provider, SendError
from riskwatch.notify.notifications.providers.email import SmtpSender
from riskwatch.notify.notifications.providers.robot import RobotClient
from riskwatch.notify.notifications.providers.voice import (
    FileVoiceProvider,
    HttpVoiceProvider,
    VoiceProvider,
)
from riskwatch.notify.notifications.sms import FileSmsProvider, HttpSmsProvider, SmsProvider
from riskwatch.notify.settings import NotifySettings


@dataclass(frozen=True, slots=True)
class Outgoing:
    """What a channel needs to send one notification: a copy, so no row lock is held.

    `recipient` is the phone number (SMS, voice), the person id (in-app), "wecom:<url>" or
    "dingtalk:<url>" (a center's group robot), the address (e-mail). `message` is the full
    rendered text; a provider that sends pre-approved templates uses `template_id` and `params`
    instead. `subject` is an e-mail's."""

    notification_id: str
    idempotency_key: str
    channel: ChannelKind
    recipient: str
    message: str
    attempt: int
    subject: str | None = None
    template_id: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Receipt:
    delivered: bool  # False: the provider took it and will confirm delivery later (or never)
    provider_message_id: str | None = None


class Channel(Protocol):
    # The provider behind the channel ("sms-http", "voice-file", "robot", "smtp"...): the
    # delivery log names it and the dispatcher keeps one circuit breaker per provider.
    provider: str

    async def send(self, notification: Outgoing) -> Receipt:
        """Send once; raise SendError (or anything) when it did not go through."""
        ...

    async def aclose(self) -> None: ...


def request_summary(notification: Outgoing) -> dict[str, object]:
    """What the delivery log keeps of a request: the masked recipient, the template id and its
    parameters. Never a token, a robot's key or the full number."""
    summary: dict[str, object] = {
        "to": mask_recipient(notification.channel.value, notification.recipient)
    }
    if notification.template_id is not None:
        summary["template_id"] = notification.template_id
    if notification.params:
        summary["params"] = dict(notification.params)
    return summary


class InAppChannel:
    """The notification row is what the duty app shows: it is delivered as it is written."""

    provider = "in_app"

    async def send(self, notification: Outgoing) -> Receipt:
        return Receipt(delivered=True)

    async def aclose(self) -> None:
        return None


class PhoneChannel:
    """A channel that reaches a phone through a provider: SMS, or a voice call reading the
    message out. The same shape for both; `missing` says what a notification without a number
    could not do."""

    def __init__(self, provider: Provider, *, missing: str) -> None:
        self._provider = provider
        self._missing = missing
        self.provider = provider.name

    async def send(self, notification: Outgoing) -> Receipt:
        if not notification.recipient:
            raise SendError(f"no phone number to {self._missing}", retryable=False)
        message_id = await self._provider.send(
            to=notification.recipient,
            text=notification.message,
            idempotency_key=notification.idempotency_key,
            template_id=notification.template_id,
            params=notification.params,
        )
        return Receipt(delivered=self._provider.confirms_delivery, provider_message_id=message_id)

    async def aclose(self) -> None:
        await self._provider.aclose()


class SmsChannel(PhoneChannel):
    def __init__(self, provider: SmsProvider) -> None:
        super().__init__(provider, missing="send the SMS to")


class VoiceChannel(PhoneChannel):
    def __init__(self, provider: VoiceProvider) -> None:
        super().__init__(provider, missing="call")


class RobotChannel:
    """A duty center's WeCom or DingTalk group robot. The group has the message once the robot
    took it: delivered. The robots take no idempotency key (see providers/robot.py)."""

    def __init__(self, client: RobotClient) -> None:
        self._client = client
        self.provider = client.name

    async def send(self, notification: Outgoing) -> Receipt:
        await self._client.post(notification.recipient, notification.message)
        return Receipt(delivered=True)

    async def aclose(self) -> None:
        await self._client.aclose()


def subject_of(notification: Outgoing) -> str:
    """The e-mail's subject; without one, the message's first line (cut to fit a subject)."""
    if notification.subject:
        return notification.subject
    first = notification.message.strip().splitlines()[0] if notification.message.strip() else ""
    return first[:78] or "RiskWatch"


class EmailChannel:
    """E-mail: sent once the server took it; no delivery receipt follows (status sent)."""

    def __init__(self, sender: SmtpSender) -> None:
        self._sender = sender
        self.provider = sender.name

    async def send(self, notification: Outgoing) -> Receipt:
        if "@" not in notification.recipient:
            raise SendError("no e-mail address to send to", retryable=False)
        message_id = await self._sender.send(
            to=notification.recipient,
            subject=subject_of(notification),
            text=notification.message,
            idempotency_key=notification.idempotency_key,
        )
        return Receipt(delivered=False, provider_message_id=message_id)

    async def aclose(self) -> None:
        await self._sender.aclose()


def sms_provider_from(settings: NotifySettings) -> SmsProvider:
    if settings.sms_provider == "http":
        if settings.sms_http_url is None:  # the settings validator makes this unreachable
            raise ValueError("RW_SMS_HTTP_URL is required when RW_SMS_PROVIDER=http")
        return HttpSmsProvider(
            settings.sms_http_url,
            token=settings.sms_http_token,
            sign_name=settings.sms_sign_name,
            generic_template=settings.sms_generic_template,
            timeout_s=settings.sms_http_timeout_s,
        )
    return FileSmsProvider(settings.sms_file_path())


def voice_provider_from(settings: NotifySettings) -> VoiceProvider:
    if settings.voice_provider == "http":
        if settings.voice_http_url is None:  # the settings validator makes this unreachable
            raise ValueError("RW_VOICE_HTTP_URL is required when RW_VOICE_PROVIDER=http")
        return HttpVoiceProvider(
            settings.voice_http_url,
            token=settings.voice_http_token,
            play_times=settings.voice_play_times,
            timeout_s=settings.voice_http_timeout_s,
        )
    return FileVoiceProvider(settings.voice_file_path())


def channels_from(settings: NotifySettings) -> Mapping[ChannelKind, Channel]:
    """The configured channels: in-app, SMS, voice and the group robots always (a robot's URL
    comes with its notification), e-mail when RW_SMTP_HOST is set."""
    channels: dict[ChannelKind, Channel] = {
        ChannelKind.IN_APP: InAppChannel(),
        ChannelKind.SMS: SmsChannel(sms_provider_from(settings)),
        ChannelKind.VOICE: VoiceChannel(voice_provider_from(settings)),
        ChannelKind.WEBHOOK: RobotChannel(
            RobotClient(
                allowed_hosts=settings.robot_allowed_hosts, timeout_s=settings.robot_timeout_s
            )
        ),
    }
    if settings.smtp_host:
        channels[ChannelKind.EMAIL] = EmailChannel(
            SmtpSender(
                host=settings.smtp_host,
                port=settings.smtp_port,
                sender=settings.smtp_from,
                username=settings.smtp_username,
                password=settings.smtp_password,
                starttls=settings.smtp_starttls,
                timeout_s=settings.smtp_timeout_s,
            )
        )
    return channels
