"""Liveness of devices, pure: when a device is overdue and the transitions a reading or the
clock makes (no I/O, no framework). The online rate of the resulting status history is
`riskwatch.common.uptime`'s, shared with reporting's monthly report.

Definitions (also in the API's schema):
- A device with a profile is watched from its first reading on. It goes offline when more than
  `offline_after_s` (the profile's `offline_after_intervals` x its smallest metric
  `interval_s`) passed since the last reading ingest received; the offline period starts at
  that moment (last reading + offline_after_s), not when the watcher happened to look, so the
  history does not depend on the watcher's cadence.
- It is online again from the next reading's receipt.
- Its status history starts at its first reading: the online rate (common/uptime.py) does not
  count the time before it.
"""

from __future__ import annotations

from collections.abc import Iterable
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
