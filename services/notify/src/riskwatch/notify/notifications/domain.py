"""Pure notification logic: what to send to whom for an alarm, the text of the message, and what
a failed attempt leads to. No I/O, no framework imports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from riskwatch.common.events.alarms import AlarmSnapshot
from riskwatch.common.retry import backoff
from riskwatch.notify.duty.domain import OnDutyPerson


class ChannelKind(StrEnum):
    IN_APP = "in_app"  # the notification row itself, shown in the duty app
    SMS = "sms"


class Topic(StrEnum):
    """What a notification is about."""

    ALARM = "alarm"
    ROSTER = "roster"  # a person's shifts in a roster just published
    CHECK_IN = "check_in"  # to a leader: nobody at their center checked in


class Status(StrEnum):
    PENDING = "pending"  # waiting for its (next) attempt
    SENDING = "sending"  # claimed by a dispatcher; back to the pool when its lease ends
    SENT = "sent"  # the provider accepted it; delivery not confirmed (yet)
    DELIVERED = "delivered"
    FAILED = "failed"  # out of attempts
    ACKNOWLEDGED = "acknowledged"  # the person on duty confirmed they have it


# Every on-duty person hears of the alarm in the app and by SMS (seed 000: a phone reminder).
CHANNELS = (ChannelKind.IN_APP, ChannelKind.SMS)
# A person may acknowledge what has reached them.
ACKNOWLEDGEABLE = frozenset({Status.SENT, Status.DELIVERED})


@dataclass(frozen=True, slots=True)
class PlannedNotification:
    idempotency_key: str
    duty_center_id: str
    person_id: str
    channel: ChannelKind
    recipient: str  # the phone number for SMS, the person id in the app
    message: str


def idempotency_key(alarm_id: str, level: str, person_id: str, channel: ChannelKind) -> str:
    """One notification per alarm, level, person and channel: a redelivered event creates
    nothing twice, and an escalation to a higher level notifies again."""
    return f"{alarm_id}:{level}:{person_id}:{channel.value}"


def notifications_for(
    alarm: AlarmSnapshot,
    on_duty: Mapping[str, Sequence[OnDutyPerson]],
    *,
    place: str | None = None,
) -> list[PlannedNotification]:
    """One notification per on-duty person and channel; `on_duty` maps each target center to
    its people, in routing order. Someone on duty in two of them is notified once, for the
    first."""
    text = message_text(alarm, place=place)
    planned: dict[str, PlannedNotification] = {}
    for center_id, people in on_duty.items():
        for person in people:
            for channel in CHANNELS:
                key = idempotency_key(alarm.alarm_id, alarm.level.value, person.person_id, channel)
                if key in planned:
                    continue
                planned[key] = PlannedNotification(
                    idempotency_key=key,
                    duty_center_id=center_id,
                    person_id=person.person_id,
                    channel=channel,
                    recipient=person.phone if channel is ChannelKind.SMS else person.person_id,
                    message=text,
                )
    return list(planned.values())


# -- message text ------------------------------------------------------------------------------

# GSM 03.38: the basic set costs one septet a character, the extension set two; one segment
# holds 160 septets. Any other character makes the whole message UCS-2: 70 characters.
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = frozenset("^{}\\[~]|€\f")
GSM_SEGMENT = 160
UCS2_SEGMENT = 70
_ELLIPSIS = "..."


def sms_length(text: str) -> tuple[int, int]:
    """(length in the encoding the text needs, what one segment of that encoding holds)."""
    if all(c in _GSM_BASIC or c in _GSM_EXTENSION for c in text):
        return sum(2 if c in _GSM_EXTENSION else 1 for c in text), GSM_SEGMENT
    return len(text.encode("utf-16-le")) // 2, UCS2_SEGMENT


def fits_one_sms(text: str) -> bool:
    length, segment = sms_length(text)
    return length <= segment


def short_alarm_id(alarm_id: str) -> str:
    return alarm_id[:8]


def message_text(alarm: AlarmSnapshot, *, place: str | None = None) -> str:
    """What the person on duty reads, e.g. "[RiskWatch] RED alarm gas-lel: ch4_lel 55 at Gas
    well 1 (gas-001), Lujiazui Street. Alarm 1a2b3c4d."

    One SMS segment where it can be: the details give way (place, then device name, then the
    rest is cut) before the level and the alarm reference do.
    """
    head = f"[RiskWatch] {alarm.level.value.upper()} alarm "
    tail = f". Alarm {short_alarm_id(alarm.alarm_id)}."
    device = alarm.device
    reading = f"{alarm.rule_id}: {alarm.metric} {alarm.value:g} at "
    named = f"{device.name} ({device.device_id})" if device.name else device.device_id
    middles = [
        reading + named + (f", {place}" if place else ""),
        reading + named,
        reading + device.device_id,
    ]
    for middle in middles:
        text = head + middle + tail
        if fits_one_sms(text):
            return text
    return head + _cut(middles[-1], head, tail) + tail


def _cut(middle: str, head: str, tail: str) -> str:
    """The longest prefix of `middle` (plus an ellipsis) that keeps the message in one segment."""
    for end in range(len(middle), -1, -1):
        candidate = middle[:end] + _ELLIPSIS
        if fits_one_sms(head + candidate + tail):
            return candidate
    return ""


# -- retries ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AfterFailure:
    status: Status  # PENDING (another attempt comes) or FAILED
    next_attempt_at: datetime | None
    will_retry: bool


def after_failure(
    *, attempts: int, max_attempts: int, now: datetime, initial_s: float, maximum_s: float
) -> AfterFailure:
    """A failed attempt number `attempts`: retry after a bounded exponential backoff while
    attempts are left, else give up."""
    if attempts >= max_attempts:
        return AfterFailure(Status.FAILED, None, will_retry=False)
    delay = backoff(attempts, initial=initial_s, maximum=maximum_s, jitter=False)
    return AfterFailure(Status.PENDING, now + timedelta(seconds=delay), will_retry=True)
