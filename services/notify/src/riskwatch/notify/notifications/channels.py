"""Delivery channels behind one interface. The in-app channel is the row itself; SMS goes
through a provider adapter (sms.py). Voice and push come later as further channels."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from riskwatch.notify.notifications.domain import ChannelKind
from riskwatch.notify.notifications.sms import (
    FileSmsProvider,
    HttpSmsProvider,
    SendError,
    SmsProvider,
)
from riskwatch.notify.settings import NotifySettings


@dataclass(frozen=True, slots=True)
class Outgoing:
    """What a channel needs to send one notification: a copy, so no row lock is held."""

    notification_id: str
    idempotency_key: str
    channel: ChannelKind
    recipient: str
    message: str
    attempt: int


@dataclass(frozen=True, slots=True)
class Receipt:
    delivered: bool  # False: the provider took it and will confirm delivery later
    provider_message_id: str | None = None


class Channel(Protocol):
    async def send(self, notification: Outgoing) -> Receipt:
        """Send once; raise SendError (or anything) when it did not go through."""
        ...

    async def aclose(self) -> None: ...


class InAppChannel:
    """The notification row is what the duty app shows: it is delivered as it is written."""

    async def send(self, notification: Outgoing) -> Receipt:
        return Receipt(delivered=True)

    async def aclose(self) -> None:
        return None


class SmsChannel:
    def __init__(self, provider: SmsProvider) -> None:
        self._provider = provider

    async def send(self, notification: Outgoing) -> Receipt:
        if not notification.recipient:
            raise SendError("no phone number to send the SMS to", retryable=False)
        message_id = await self._provider.send(
            to=notification.recipient,
            text=notification.message,
            idempotency_key=notification.idempotency_key,
        )
        return Receipt(delivered=self._provider.confirms_delivery, provider_message_id=message_id)

    async def aclose(self) -> None:
        await self._provider.aclose()


def sms_provider_from(settings: NotifySettings) -> SmsProvider:
    if settings.sms_provider == "http":
        if settings.sms_http_url is None:  # the settings validator makes this unreachable
            raise ValueError("RW_SMS_HTTP_URL is required when RW_SMS_PROVIDER=http")
        return HttpSmsProvider(
            settings.sms_http_url,
            token=settings.sms_http_token,
            timeout_s=settings.sms_http_timeout_s,
        )
    return FileSmsProvider(settings.sms_file_path())


def channels_from(settings: NotifySettings) -> Mapping[ChannelKind, Channel]:
    return {
        ChannelKind.IN_APP: InAppChannel(),
        ChannelKind.SMS: SmsChannel(sms_provider_from(settings)),
    }
