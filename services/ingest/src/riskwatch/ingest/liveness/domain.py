"""Liveness of devices, pure: when a device is overdue, the transitions a reading or the clock
makes, and the time-weighted online rate over a period (no I/O, no framework).

Definitions (also in the API's schema):
- A device with a profile is watched from its first reading on. It goes offline when more than
  `offline_after_s` (the profile's `offline_after_intervals` x its smallest metric
  `interval_s`) passed since the last reading ingest received; the offline period starts at
  that moment (last reading + offline_after_s), not when the watcher happened to look, so the
  history does not depend on the watcher's cadence.
- It is online again from the next reading's receipt.
- Its online rate over [start, end) is online time / observed time, where observed time is the
  part of [start, end) covered by its status history (from its first reading up to now): time
  before the first reading, and time not yet passed, do not count.
- A group's rate (sector, scenario, town) is time-weighted: the sum of its devices' online time
  over the sum of their observed time, so splitting a period and recombining gives the same
  rate and a device watched for a day weighs less than one watched for the whole month.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Status = Literal["online", "offline"]


def offline_after_s(intervals_s: Iterable[int], offline_after_intervals: int) -> int | None:
    """Seconds without a reading after which a device is offline; None: nothing to watch."""
    smallest = min(intervals_s, default=None)
    if smallest is None or smallest <= 0 or offline_after_intervals <= 0:
        return None
    return smallest * offline_after_intervals


@dataclass(frozen=True, slots=True)
class Liveness:
    status: Status
    status_since: datetime
    last_seen_at: datetime
    offline_after_s: int

    @property
    def overdue_at(self) -> datetime:
        """When the device goes offline if nothing comes before."""
        return self.last_seen_at + timedelta(seconds=self.offline_after_s)


@dataclass(frozen=True, slots=True)
class Change:
    status: Status
    previous: Status | None
    at: datetime


@dataclass(frozen=True, slots=True)
class Step:
    state: Liveness
    change: Change | None


def on_reading(state: Liveness | None, *, seen_at: datetime, offline_after_s: int) -> Step:
    """A reading received at `seen_at`. The last seen time never goes backwards (batches may be
    consumed out of receipt order across partitions); an offline device comes back online, no
    earlier than its offline period began (so periods never overlap)."""
    if state is None:
        fresh = Liveness("online", seen_at, seen_at, offline_after_s)
        return Step(fresh, Change("online", None, seen_at))
    last = max(state.last_seen_at, seen_at)
    if state.status == "online":
        return Step(Liveness("online", state.status_since, last, offline_after_s), None)
    back = max(seen_at, state.status_since)
    return Step(Liveness("online", back, last, offline_after_s), Change("online", "offline", back))


def on_tick(state: Liveness, *, now: datetime) -> Step:
    """The watcher's look at `now`: an online device past its deadline goes offline, as of
    its deadline."""
    if state.status == "online" and now > state.overdue_at:
        at = state.overdue_at
        return Step(
            Liveness("offline", at, state.last_seen_at, state.offline_after_s),
            Change("offline", "online", at),
        )
    return Step(state, None)


# -- the online rate --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Period:
    """One row of a device's status history; `to_at` None: still so."""

    status: Status
    from_at: datetime
    to_at: datetime | None


@dataclass(frozen=True, slots=True)
class Uptime:
    """Seconds online and seconds observed; their ratio is the rate."""

    online_s: float = 0.0
    observed_s: float = 0.0

    def __add__(self, other: Uptime) -> Uptime:
        return Uptime(self.online_s + other.online_s, self.observed_s + other.observed_s)

    @property
    def rate(self) -> float | None:
        """None when nothing was observed: no rate rather than a made-up 0 or 1."""
        if self.observed_s <= 0:
            return None
        return min(1.0, max(0.0, self.online_s / self.observed_s))


def uptime(periods: Iterable[Period], *, start: datetime, end: datetime, now: datetime) -> Uptime:
    """One device's time online and observed within [start, end), up to `now` at the latest
    (an open period lasts until now, not until the end of a period still to come)."""
    online = observed = 0.0
    for p in periods:
        lo = max(p.from_at, start)
        hi = min(p.to_at if p.to_at is not None else now, end, now)
        if hi <= lo:
            continue
        seconds = (hi - lo).total_seconds()
        observed += seconds
        if p.status == "online":
            online += seconds
    return Uptime(online, observed)


def total(parts: Sequence[Uptime]) -> Uptime:
    """A group's time-weighted total."""
    out = Uptime()
    for part in parts:
        out = out + part
    return out
