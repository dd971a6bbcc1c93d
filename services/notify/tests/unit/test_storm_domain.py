"""Storm control, pure: windows counted from local midnight, and what a cap lets through. The
properties: never more than N capped sends a window or M a day beyond red alarms' first notices,
a red first notice never held back, and every candidate either sent or held back for exactly one
digest."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskwatch.common.catalog import default_catalog
from riskwatch.notify.notifications.domain import ChannelKind
from riskwatch.notify.notifications.storm import (
    Candidate,
    Cap,
    Decision,
    Sent,
    StormCaps,
    day_of,
    decide,
    digest_key,
    is_red_first,
    window_of,
)
from riskwatch.notify.notifications.storm_service import caps_from
from riskwatch.notify.settings import NotifySettings

TZ = ZoneInfo("Asia/Shanghai")
CAPS = caps_from(NotifySettings(), default_catalog().district.zone)
T0 = datetime(2026, 11, 1, 19, 3, tzinfo=UTC)  # 03:03 in Shanghai


def test_the_defaults_are_the_documented_ones() -> None:
    assert CAPS.window == timedelta(minutes=10)
    assert (CAPS.sms, CAPS.voice) == (Cap(10, 50), Cap(3, 20))
    assert CAPS.cap(ChannelKind.SMS) == Cap(10, 50)
    for uncapped in (ChannelKind.IN_APP, ChannelKind.WEBHOOK, ChannelKind.EMAIL):
        assert CAPS.cap(uncapped) is None
    with pytest.raises(ValueError, match="window"):
        replace(CAPS, window=timedelta(0))


def test_windows_start_at_local_midnight() -> None:
    start, end = window_of(T0, CAPS)
    assert (start.astimezone(TZ).strftime("%H:%M"), end.astimezone(TZ).strftime("%H:%M")) == (
        "03:00",
        "03:10",
    )
    day_start, day_end = day_of(T0, TZ)
    assert day_start == datetime(2026, 11, 1, 16, 0, tzinfo=UTC)  # 00:00 in Shanghai
    assert day_end - day_start == timedelta(days=1)
    # A length that does not divide the day: the day's last window ends at midnight.
    seven = replace(CAPS, window=timedelta(minutes=7))
    last_start, last_end = window_of(day_end - timedelta(seconds=1), seven)
    assert last_end == day_end
    assert last_end - last_start == timedelta(minutes=1440 % 7)


@given(
    at=st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
    ),
    minutes=st.integers(min_value=1, max_value=1440),
    zone=st.sampled_from(["Asia/Shanghai", "Europe/Berlin", "America/New_York", "UTC"]),
)
def test_a_window_holds_its_instant_and_stays_within_one_local_day(
    at: datetime, minutes: int, zone: str
) -> None:
    caps = replace(CAPS, window=timedelta(minutes=minutes), zone=ZoneInfo(zone))
    start, end = window_of(at, caps)
    assert start <= at < end
    assert end - start <= caps.window
    day_start, day_end = day_of(at, caps.zone)
    assert day_start <= start
    assert end <= day_end
    # The next instant after the window is in the next window.
    assert window_of(end, caps)[0] == end


def test_two_hundred_alarms_give_ten_sms_and_hold_back_the_rest() -> None:
    decisions = decide(CAPS.sms, Sent(0, 0), [Candidate(red_first=False)] * 200)
    assert Counter(decisions) == {Decision.SEND: 10, Decision.SUPPRESS: 190}
    assert decisions[:10] == [Decision.SEND] * 10


def test_a_red_alarms_first_notice_goes_out_beyond_the_cap_and_still_counts() -> None:
    full = Sent(in_window=10, in_day=10)
    assert decide(CAPS.sms, full, [Candidate(red_first=True)]) == [Decision.SEND]
    # It took room: with one slot left, a red first notice and then another notice.
    almost = Sent(in_window=9, in_day=9)
    assert decide(CAPS.sms, almost, [Candidate(red_first=True), Candidate(red_first=False)]) == [
        Decision.SEND,
        Decision.SUPPRESS,
    ]
    assert is_red_first(topic="alarm", level="red", step=0, round_=0)
    assert not is_red_first(topic="alarm", level="red", step=1, round_=0)  # a later step
    assert not is_red_first(topic="alarm", level="red", step=0, round_=1)  # a repeat
    assert not is_red_first(topic="alarm", level="orange", step=0, round_=0)
    assert not is_red_first(topic="roster", level=None, step=0, round_=0)


def test_the_day_cap_holds_whatever_room_the_window_has() -> None:
    assert decide(CAPS.sms, Sent(in_window=0, in_day=50), [Candidate(False)]) == [Decision.SUPPRESS]
    assert decide(CAPS.sms, Sent(in_window=0, in_day=49), [Candidate(False)] * 2) == [
        Decision.SEND,
        Decision.SUPPRESS,
    ]


def test_the_digest_key_names_recipient_channel_and_window() -> None:
    start, _ = window_of(T0, CAPS)
    assert digest_key("+8613800000000", ChannelKind.SMS, start) == (
        "digest:+8613800000000:sms:20261101T190000Z"
    )


# -- a simulated day of storms to one person ----------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    at: datetime
    red_first: bool
    decision: Decision
    digest: str | None


def simulate(
    cap: Cap, caps: StormCaps, batches: list[tuple[datetime, list[bool]]]
) -> list[Outcome]:
    """What admit does, without the database: each batch (one planner's insert) is decided on
    what went out before it, counted as the service counts (sent, not held back)."""
    history: list[Outcome] = []
    for at, flags in sorted(batches, key=lambda b: b[0]):
        start, _ = window_of(at, caps)
        day_start, _ = day_of(at, caps.zone)
        went = [o for o in history if o.decision is Decision.SEND]
        sent = Sent(
            in_window=sum(1 for o in went if o.at >= start),
            in_day=sum(1 for o in went if o.at >= day_start),
        )
        decisions = decide(cap, sent, [Candidate(red_first=flag) for flag in flags])
        for flag, decision in zip(flags, decisions, strict=True):
            digest = (
                digest_key("+86138", ChannelKind.SMS, start)
                if decision is Decision.SUPPRESS
                else None
            )
            history.append(Outcome(at, flag, decision, digest))
    return history


batches = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=2 * 24 * 60).map(lambda m: T0 + timedelta(minutes=m)),
        # Mostly ordinary notices, some red first notices.
        st.lists(st.sampled_from([False, False, False, True]), min_size=1, max_size=20),
    ),
    max_size=40,
)


@settings(max_examples=200)
@given(
    batches=batches,
    per_window=st.integers(min_value=0, max_value=12),
    per_day=st.integers(min_value=0, max_value=60),
    window_min=st.sampled_from([1, 5, 10, 30, 60]),
)
def test_caps_hold_in_every_window_and_day_and_nothing_is_lost(
    batches: list[tuple[datetime, list[bool]]], per_window: int, per_day: int, window_min: int
) -> None:
    cap = Cap(per_window, per_day)
    caps = replace(CAPS, window=timedelta(minutes=window_min), sms=cap, zone=TZ)
    outcomes = simulate(cap, caps, batches)
    # Nothing lost: every candidate has exactly one outcome; each held back one one digest.
    assert len(outcomes) == sum(len(flags) for _, flags in batches)
    for o in outcomes:
        assert (o.decision is Decision.SUPPRESS) == (o.digest is not None)
        # A red alarm's first notice is never held back.
        assert not (o.red_first and o.decision is Decision.SUPPRESS)
    by_window: dict[datetime, list[Outcome]] = {}
    by_day: dict[datetime, list[Outcome]] = {}
    for o in outcomes:
        by_window.setdefault(window_of(o.at, caps)[0], []).append(o)
        by_day.setdefault(day_of(o.at, TZ)[0], []).append(o)
    for group in by_window.values():
        others = [o for o in group if o.decision is Decision.SEND and not o.red_first]
        assert len(others) <= per_window
        # One digest at most for the window.
        assert len({o.digest for o in group if o.digest}) <= 1
    for group in by_day.values():
        others = [o for o in group if o.decision is Decision.SEND and not o.red_first]
        assert len(others) <= per_day


@settings(max_examples=20)
@given(reds=st.sets(st.integers(min_value=0, max_value=499), max_size=40))
def test_five_hundred_alarms_in_a_minute_send_n_plus_the_red_firsts_and_one_digest(
    reds: set[int],
) -> None:
    batches = [(T0 + timedelta(seconds=i * 60 / 500), [i in reds]) for i in range(500)]
    outcomes = simulate(CAPS.sms, CAPS, batches)
    sent = [o for o in outcomes if o.decision is Decision.SEND]
    assert len(sent) <= CAPS.sms.per_window + len(reds)
    assert all(o.decision is Decision.SEND for o in outcomes if o.red_first)
    digests = {o.digest for o in outcomes if o.digest}
    assert len(digests) == 1  # T0 + 1 min is within one window
    # Every alarm is accounted for: sent, or counted in the digest.
    assert len(sent) + sum(1 for o in outcomes if o.digest) == 500


@given(st.integers(1, 24 * 60 * 60 - 1))
def test_windows_shorter_than_a_minute_have_digest_keys_of_their_own(offset_s: int) -> None:
    """A 30 s window: two windows in one minute must not share a digest (the key once had the
    minute only, and the second window's digest was lost to the first's)."""
    caps = replace(CAPS, window=timedelta(seconds=30))
    at = datetime(2026, 12, 1, tzinfo=UTC) + timedelta(seconds=offset_s)
    this, _ = window_of(at, caps)
    previous, _ = window_of(this - timedelta(seconds=1), caps)
    assert digest_key("+8613800000001", ChannelKind.SMS, this) != digest_key(
        "+8613800000001", ChannelKind.SMS, previous
    )
