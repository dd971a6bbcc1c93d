"""Pure notification logic: what to send to whom for an alarm, the text of the message, and what
a failed attempt leads to. No I/O, no framework imports."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from riskwatch.common.retry import backoff


class ChannelKind(StrEnum):
    """The contract's vocabulary (riskwatch.common.events.notifications.Channel)."""

    IN_APP = "in_app"  # the notification row itself, shown in the duty app and its live stream
    SMS = "sms"
    VOICE = "voice"  # a text-to-speech call (电话提醒); keypress 1 acknowledges
    WEBHOOK = "webhook"  # a duty center's group robot (WeCom / DingTalk)
    EMAIL = "email"


class AckVia(StrEnum):
    """How an acknowledgement (签收) came (the contract's AckVia)."""

    API = "api"  # the duty app, over the API
    SMS = "sms"  # a reply to the SMS
    VOICE = "voice"  # keypress 1 on the voice call


class Topic(StrEnum):
    """What a notification is about."""

    ALARM = "alarm"
    ROSTER = "roster"  # a person's shifts in a roster just published
    CHECK_IN = "check_in"  # to a leader: nobody at their center checked in
    DIGEST = "digest"  # what a per-recipient cap held back, summed up in one message
    # A work order dispatched, near or past a stage's limit, raised to a higher loop tier; the
    # weekly overdue bulletin. Not escalated, never acknowledged by reply.
    WORK_ORDER = "work_order"
    # A device offline (its technical alarm raised) or back online (cleared), to the technical
    # staff over it. Not an alarm's escalation: no alarm_id, never acknowledged by reply.
    DEVICE = "device"


class Status(StrEnum):
    PENDING = "pending"  # waiting for its (next) attempt
    SENDING = "sending"  # claimed by a dispatcher; back to the pool when its lease ends
    SENT = "sent"  # the provider accepted it; delivery not confirmed (yet)
    DELIVERED = "delivered"
    FAILED = "failed"  # out of attempts
    ACKNOWLEDGED = "acknowledged"  # the person on duty confirmed they have it
    SUPPRESSED = "suppressed"  # held back by a per-recipient cap; counted in a digest instead


# Duty notices (a roster published, a check-in missed) go in the app and by SMS; an alarm's
# channels are its escalation step's.
CHANNELS = (ChannelKind.IN_APP, ChannelKind.SMS)
# A person may acknowledge what is reaching or has reached them (a voice call's keypress can
# come back before the dispatcher has settled the call).
ACKNOWLEDGEABLE = frozenset({Status.SENDING, Status.SENT, Status.DELIVERED})


@dataclass(frozen=True, slots=True)
class Recipient:
    """Someone (or a center's group robot) an escalation step notifies, for a duty center, and
    how to reach them. A robot's person id is "robot:<center id>"."""

    duty_center_id: str
    person_id: str
    phone: str | None = None
    email: str | None = None
    locale: str | None = None
    robot_url: str | None = None

    def address(self, channel: ChannelKind) -> str | None:
        """Where `channel` reaches them; None when it cannot."""
        if self.robot_url is not None:
            return self.robot_url if channel is ChannelKind.WEBHOOK else None
        match channel:
            case ChannelKind.IN_APP:
                return self.person_id
            case ChannelKind.SMS | ChannelKind.VOICE:
                return self.phone or None
            case ChannelKind.EMAIL:
                return self.email or None
            case ChannelKind.WEBHOOK:
                return None


def robot_person_id(duty_center_id: str) -> str:
    return f"robot:{duty_center_id}"


@dataclass(frozen=True, slots=True)
class PlannedNotification:
    idempotency_key: str
    duty_center_id: str
    person_id: str
    channel: ChannelKind
    recipient: str  # the phone number, the person id in the app, the robot URL, the address
    locale: str | None


def idempotency_key(
    alarm_id: str, level: str, step: int, round_: int, person_id: str, channel: ChannelKind
) -> str:
    """One notification per alarm, level, escalation step and round, person and channel: a
    redelivered event or a step fired again after a crash creates nothing twice, and every
    step and every higher level notifies anew."""
    return f"{alarm_id}:{level}:{round_}.{step}:{person_id}:{channel.value}"


def plan_step(
    alarm_id: str,
    level: str,
    *,
    step: int,
    round_: int,
    recipients: Sequence[Recipient],
    channels: Sequence[ChannelKind],
) -> list[PlannedNotification]:
    """One notification per recipient and channel that reaches them, in recipients' order.
    Someone listed twice (on duty at two centers, on duty and a leader) is notified once per
    channel, for the first."""
    planned: dict[str, PlannedNotification] = {}
    for recipient in recipients:
        for channel in channels:
            address = recipient.address(channel)
            if address is None:
                continue
            key = idempotency_key(alarm_id, level, step, round_, recipient.person_id, channel)
            if key in planned:
                continue
            planned[key] = PlannedNotification(
                idempotency_key=key,
                duty_center_id=recipient.duty_center_id,
                person_id=recipient.person_id,
                channel=channel,
                recipient=address,
                locale=recipient.locale,
            )
    return list(planned.values())


# -- notices to people, once per occasion ------------------------------------------------------
# The notices that are no alarm's escalation step (work orders, the weekly bulletin, devices
# offline) share these: whom a notice reaches, each person once, and one row per occasion,
# person and channel.


@dataclass(frozen=True, slots=True)
class Addressee:
    """Someone a notice goes to, found in `audience` (the notice kind's own vocabulary, e.g.
    workorders.domain.Audience)."""

    audience: str
    recipient: Recipient


def addressees(
    found: Iterable[Addressee], *, actor: str | None = None, assignee: str | None = None
) -> list[Addressee]:
    """Each person once, in the first audience they were found in; the actor of a move is not
    told of it (unless it was handed to them). Robots are not addressed."""
    seen: set[str] = set()
    out: list[Addressee] = []
    for a in found:
        person = a.recipient.person_id
        if person in seen or a.recipient.robot_url is not None:
            continue
        if actor is not None and person == actor and person != assignee:
            continue
        seen.add(person)
        out.append(a)
    return out


@dataclass(frozen=True, slots=True)
class Planned:
    idempotency_key: str
    addressee: Addressee
    channel: ChannelKind
    address: str


def plan_rows(
    occasion_key: str, people: Sequence[Addressee], channels: Sequence[ChannelKind]
) -> list[Planned]:
    """One notice per person and channel that reaches them: in the app always, by SMS when
    they have a phone."""
    out: list[Planned] = []
    for a in people:
        for channel in channels:
            address = a.recipient.address(channel)
            if address is None:
                continue
            key = f"{occasion_key}:{a.recipient.person_id}:{channel.value}"
            out.append(Planned(key, a, channel, address))
    return out


# -- acknowledgement by SMS reply ----------------------------------------------------------------

ACK_WORDS = ("签收", "QS", "ACK")
_REF_CHARS = frozenset("0123456789abcdef-")


@dataclass(frozen=True, slots=True)
class AckReply:
    """An SMS reply that acknowledges: the alarm reference it names (the first characters of
    the alarm id, as the message showed them), or None for the bare word."""

    alarm_ref: str | None


def parse_ack_reply(text: str) -> AckReply | None:
    """ "QS 1a2b3c4d", "签收1a2b3c4d", "ack 1A2B3C4D" or a bare "QS"; None for anything else."""
    body = text.strip()
    for word in ACK_WORDS:
        if body.upper().startswith(word):
            # Separators a phone keyboard gives, ASCII or full-width (: and , in Chinese input).
            rest = body[len(word) :].strip(" :\uff1a,\uff0c").lower()
            if not rest:
                return AckReply(None)
            if 4 <= len(rest) <= 36 and set(rest) <= _REF_CHARS:
                return AckReply(rest)
            return None
    return None


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


def sms_length(text: str) -> tuple[int, int]:
    """(length in the encoding the text needs, what one segment of that encoding holds)."""
    if all(c in _GSM_BASIC or c in _GSM_EXTENSION for c in text):
        return sum(2 if c in _GSM_EXTENSION else 1 for c in text), GSM_SEGMENT
    return len(text.encode("utf-16-le")) // 2, UCS2_SEGMENT


def short_alarm_id(alarm_id: str) -> str:
    """How messages name an alarm, and how an SMS reply names it back."""
    return alarm_id[:8]


# -- retries ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AfterFailure:
    status: Status  # PENDING (another attempt comes) or FAILED
    next_attempt_at: datetime | None
    will_retry: bool


# Draws a delay uniformly from [low, high]; injected by tests to make the jitter known.
Jitter = Callable[[float, float], float]


def full_jitter(low: float, high: float) -> float:
    # Not for security: spreading retries in time.
    return random.uniform(low, high)  # noqa: S311


def after_failure(
    *,
    attempts: int,
    max_attempts: int,
    now: datetime,
    initial_s: float,
    maximum_s: float,
    jitter: Jitter = full_jitter,
) -> AfterFailure:
    """A failed attempt number `attempts`: retry while attempts are left, else give up. The
    wait is capped exponential backoff with full jitter, uniform in [0, cap] where the cap
    doubles from `initial_s` up to `maximum_s`: notifications that failed together (a
    provider outage) do not all come back together."""
    if attempts >= max_attempts:
        return AfterFailure(Status.FAILED, None, will_retry=False)
    cap = backoff(attempts, initial=initial_s, maximum=maximum_s, jitter=False)
    delay = min(max(jitter(0.0, cap), 0.0), cap)  # a jitter outside its range cannot escape it
    return AfterFailure(Status.PENDING, now + timedelta(seconds=delay), will_retry=True)


# -- delivery -----------------------------------------------------------------------------------


class AttemptOutcome(StrEnum):
    """What a row of the delivery log (notify.delivery_attempt) records."""

    ACCEPTED = "accepted"  # the provider took it; its receipt or callback tells the rest
    DELIVERED = "delivered"  # delivered as it was accepted (in-app, the file adapters, robots)
    FAILED = "failed"  # the attempt did not go through
    SHORT_CIRCUITED = "short_circuited"  # the provider's breaker was open: nothing was sent
    RECEIPT = "receipt"  # a delivery receipt or voice callback the provider sent about it


FALLBACK_VOICE_SUFFIX = ":fallback:voice"


def falls_back_to_voice(
    *,
    topic: str,
    channel: str,
    attempts: int,
    fallback_after: int,
    provider_down: bool = False,
    giving_up: bool = False,
) -> bool:
    """Whether a failed SMS of an alarm is given up for a voice call to the same person: after
    `fallback_after` failed attempts, at once while its provider's breaker is open, or when it
    fails for good (out of attempts, an error retrying cannot mend, an undelivered receipt).
    Only SMS falls back, once; a voice call that fails does not fall back further."""
    if topic != Topic.ALARM.value or channel != ChannelKind.SMS.value:
        return False
    return provider_down or giving_up or attempts >= fallback_after


def fallback_key(idempotency_key: str) -> str:
    """The voice fallback of an SMS exists once: its key is the SMS's key plus a suffix."""
    return idempotency_key + FALLBACK_VOICE_SUFFIX


def mask_recipient(channel: str, recipient: str) -> str:
    """A recipient as the delivery log may keep it: a phone number with four digits before the
    last four hidden (138****5678), an e-mail's local part cut to its first letter, a group
    robot's URL reduced to its host (its path and query hold the robot's key), a person id as
    it is."""
    if channel in (ChannelKind.SMS.value, ChannelKind.VOICE.value):
        n = len(recipient)
        if n <= 4:
            return "*" * n
        head = max(0, n - 8)
        return recipient[:head] + "*" * (n - 4 - head) + recipient[-4:]
    if channel == ChannelKind.EMAIL.value:
        local, at, domain = recipient.rpartition("@")
        return f"{local[:1]}***@{domain}" if at else "***"
    if channel == ChannelKind.WEBHOOK.value:
        kind, _, url = recipient.partition(":")
        host = url.split("//", 1)[-1].split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1]
        return f"{kind}:{host}"
    return recipient
