"""The time-weighted online rate of devices, pure: one home for the math that ingest's online
rate API and reporting's monthly report both compute (no I/O, no framework).

- A device's status history is a run of periods, each `[from_at, to_at)`, the last one open
  (`to_at` None: still so).
- Its online rate over `[start, end)` is online time / observed time, where observed time is the
  part of `[start, end)` its history covers, up to `now`: time before its first period, and time
  not yet passed, do not count. Only `online` is online; `offline` and `fault` are observed.
- A group's rate (sector, scenario, town) is time-weighted: the sum of its devices' online time
  over the sum of their observed time, so splitting a period and recombining gives the same
  rate and a device watched for a day weighs less than one watched for the whole month.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from riskwatch.common.events.device_status import DeviceState


@dataclass(frozen=True, slots=True)
class Period:
    """One stretch of a device's status history; `to_at` None: still so."""

    status: DeviceState
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
    def offline_s(self) -> float:
        """Observed and not online (offline or faulty)."""
        return self.observed_s - self.online_s

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


def total(parts: Iterable[Uptime]) -> Uptime:
    """A group's time-weighted total."""
    out = Uptime()
    for part in parts:
        out = out + part
    return out
