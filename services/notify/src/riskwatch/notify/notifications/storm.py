"""Pure storm control: per recipient and channel, at most so many SMS and calls per window and per
local day (what providers allow, and what a person can take in). What a cap holds back is counted
in one digest per recipient, channel and window. A red alarm's first notice to a person is never
held back (it still counts). No I/O, no framework imports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from riskwatch.common.events.base import Level
from riskwatch.notify.notifications.domain import ChannelKind, Topic


@dataclass(frozen=True, slots=True)
class Cap:
    per_window: int
    per_day: int


@dataclass(frozen=True, slots=True, kw_only=True)
class StormCaps:
    """The caps of the capped channels (SMS and voice; in-app, robots and e-mail are not
    capped), the window length, and the zone whose midnight starts a day (the catalog
    district's). Their values come from the settings (RW_STORM_*): storm_service.caps_from."""

    window: timedelta
    sms: Cap
    voice: Cap
    zone: ZoneInfo

    def __post_init__(self) -> None:
        if not timedelta(0) < self.window <= timedelta(days=1):
            raise ValueError("the storm window must be longer than 0 and at most a day")
        for cap in (self.sms, self.voice):
            if cap.per_window < 0 or cap.per_day < 0:
                raise ValueError("storm caps must not be negative")

    def cap(self, channel: ChannelKind) -> Cap | None:
        """The cap of `channel`; None for one that is not capped."""
        if channel is ChannelKind.SMS:
            return self.sms
        if channel is ChannelKind.VOICE:
            return self.voice
        return None


# -- windows ------------------------------------------------------------------------------------


def day_of(at: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The local day `at` falls in: its start and end, in UTC."""
    local = at.astimezone(zone).date()
    start = datetime.combine(local, time(), tzinfo=zone)
    end = datetime.combine(local + timedelta(days=1), time(), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


def window_of(at: datetime, caps: StormCaps) -> tuple[datetime, datetime]:
    """The window `at` falls in, in UTC. Windows are counted from local midnight, so none
    straddles two days; the day's last one is cut short when the length does not divide it."""
    day_start, day_end = day_of(at, caps.zone)
    index = (at - day_start) // caps.window
    start = day_start + index * caps.window
    return start, min(start + caps.window, day_end)


def digest_key(recipient: str, channel: ChannelKind, window_start: datetime) -> str:
    """The idempotency key of the digest of one recipient, channel and window."""
    return f"digest:{recipient}:{channel.value}:{window_start.astimezone(UTC):%Y%m%dT%H%M%SZ}"


# -- decisions ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sent:
    """What went to one recipient on one channel lately (held back notices and digests not
    counted): in the current window, and in the current local day."""

    in_window: int
    in_day: int


@dataclass(frozen=True, slots=True)
class Candidate:
    """A notice about to go out, as storm control sees it."""

    red_first: bool  # the first notice of a red alarm to this person: never held back


def is_red_first(*, topic: str, level: str | None, step: int, round_: int) -> bool:
    """A red alarm's first notice to a person: step 0 of round 0 of its escalation at red (an
    alarm raised to red restarts its escalation, so that is its first red notice too)."""
    return topic == Topic.ALARM.value and level == Level.RED.value and step == 0 and round_ == 0


class Decision(StrEnum):
    SEND = "send"
    SUPPRESS = "suppress"  # held back; counted in the window's digest


def decide(cap: Cap, sent: Sent, candidates: Sequence[Candidate]) -> list[Decision]:
    """In order, whether each candidate goes out or is held back. A candidate goes out while
    the window and the day have room; a red alarm's first notice goes out regardless, and
    takes room like any other."""
    in_window, in_day = sent.in_window, sent.in_day
    decisions: list[Decision] = []
    for candidate in candidates:
        room = in_window < cap.per_window and in_day < cap.per_day
        if room or candidate.red_first:
            decisions.append(Decision.SEND)
            in_window += 1
            in_day += 1
        else:
            decisions.append(Decision.SUPPRESS)
    return decisions
