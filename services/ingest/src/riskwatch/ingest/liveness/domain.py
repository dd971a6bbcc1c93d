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

from collections.abc import Iterable, Mapping
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


class ReceiptMemory:
    """When this process last noted each watched device's receipt, so that a device heard many
    times a second is noted once per window, not once per batch (the readings path's insert,
    folded by the watcher). A device's window is `every_s`, or a quarter of its profile's
    smallest interval when that is shorter: its last receipt as folded lags the truth by less
    than the window, which is small beside its deadline (at least one interval, 3 by default).
    Bounded: past `max_devices` it starts afresh (a device is then noted once more)."""

    def __init__(self, *, every_s: float, max_devices: int = 100_000) -> None:
        self.every_s = every_s
        self.max_devices = max_devices
        self._noted: dict[str, datetime] = {}

    def due(
        self, device_ids: Iterable[str], *, at: datetime, smallest_interval_s: Mapping[str, float]
    ) -> list[str]:
        """The devices among `device_ids` to note at `at`, remembered as noted then."""
        noted = self._noted
        if len(noted) > self.max_devices:
            noted.clear()
        out: list[str] = []
        for device_id in device_ids:
            last = noted.get(device_id)
            if last is not None:
                window = min(self.every_s, 0.25 * smallest_interval_s.get(device_id, 0.0))
                if (at - last).total_seconds() < window:
                    continue
            noted[device_id] = at
            out.append(device_id)
        return out
