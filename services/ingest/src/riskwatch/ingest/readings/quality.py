"""Data quality of readings (数据质量: 完整性、准确性、实效性), pure: no I/O, no clock.

Each accepted reading gets a bitmask of flags, stored with it (`reading.flags`) and carried on
its event (`Reading.flags`); a flagged reading is still kept and published.

- OUT_OF_RANGE: outside the physical range [min, max] of its metric in the device's profile.
- LATE: received more than `late_intervals` x the metric's interval after its timestamp
  (`late_default_s` when the profile does not give the metric).
- STUCK: the same value as the previous `stuck_readings - 1` readings of the series, that is
  the N-th equal value in a row and every one after it.
- SPIKE: a jump from the previous reading larger than `spike_share` of the metric's range.
- GAP: more than `gap_intervals` x the metric's interval since the previous reading of its
  series (by timestamp): one or more readings went missing before this one (完整性). Counting
  the flagged readings counts the gaps.

STUCK, SPIKE and GAP compare a reading with the previous one of its series (device and
metric) in time order, as this process saw it (`SeriesState`, kept by `SeriesMemory`). A
reading older than the last one seen (late, or resent) is checked for range and lateness only
and leaves the series' state as it was.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

# The flags' bits and names are the event contract's (Reading.flags).
from riskwatch.common.events.readings import FLAG_NAMES, Flag

# Plain ints for the hot path: an IntFlag is iterable, which a driver takes for an array.
_OUT_OF_RANGE = int(Flag.OUT_OF_RANGE)
_LATE = int(Flag.LATE)
_STUCK = int(Flag.STUCK)
_SPIKE = int(Flag.SPIKE)
_GAP = int(Flag.GAP)


def flag_names(flags: int) -> list[str]:
    """The names of the flags set in `flags`, in bit order."""
    return [name for name, flag in FLAG_NAMES if flags & flag]


@dataclass(frozen=True, slots=True)
class MetricLimits:
    """What a profile says of one metric, as far as quality goes."""

    min: float
    max: float
    interval_s: float


@dataclass(frozen=True, slots=True)
class QualityRules:
    stuck_readings: int = 6
    spike_share: float = 0.5
    late_intervals: float = 2.0
    late_default_s: float = 600.0
    gap_intervals: float = 1.5


@dataclass(frozen=True, slots=True)
class SeriesState:
    """The last reading of a series: its time, value and how many equal values in a row."""

    ts: datetime
    value: float
    repeats: int


def assess(
    value: float,
    ts: datetime,
    *,
    received_at: datetime,
    limits: MetricLimits | None,
    previous: SeriesState | None,
    rules: QualityRules,
) -> tuple[int, SeriesState | None]:
    """The flags of one reading, and the series' state after it (None: unchanged)."""
    flags = 0
    if limits is not None and not limits.min <= value <= limits.max:
        flags |= _OUT_OF_RANGE
    late_after = (
        rules.late_default_s if limits is None else rules.late_intervals * limits.interval_s
    )
    if (received_at - ts).total_seconds() > late_after:
        flags |= _LATE
    if previous is None:
        return flags, SeriesState(ts, value, 1)
    if ts <= previous.ts:  # out of order or resent: not part of the series as seen
        return flags, None
    repeats = previous.repeats + 1 if value == previous.value else 1
    if repeats >= rules.stuck_readings:
        flags |= _STUCK
    if limits is not None and abs(value - previous.value) > rules.spike_share * (
        limits.max - limits.min
    ):
        flags |= _SPIKE
    if limits is not None and (ts - previous.ts).total_seconds() > (
        rules.gap_intervals * limits.interval_s
    ):
        flags |= _GAP
    return flags, SeriesState(ts, value, repeats)


SeriesKey = tuple[str, str]  # (device_id, metric)


class SeriesMemory:
    """The last reading of each series seen by this process, bounded (least recently used
    series forgotten first). Forgetting a series, or restarting, only delays its STUCK flag
    (counted again from one) and skips one SPIKE comparison."""

    def __init__(self, *, max_series: int) -> None:
        self.max_series = max_series
        self._states: OrderedDict[SeriesKey, SeriesState] = OrderedDict()

    def __len__(self) -> int:
        return len(self._states)

    def get(self, key: SeriesKey) -> SeriesState | None:
        return self._states.get(key)

    def assess_all(
        self,
        readings: Iterable[tuple[str, str, float, datetime]],
        *,
        received_at: datetime,
        limits: Mapping[str, Mapping[str, MetricLimits]],
        rules: QualityRules,
    ) -> list[int]:
        """The flags of each (device_id, metric, value, ts), in the order given; the series'
        states move on. `limits` holds each device's metrics (its profile's). Give each
        series' readings in time order (a batch sorted by ts)."""
        states = self._states
        out: list[int] = []
        no_limits: Mapping[str, MetricLimits] = {}
        for device_id, metric, value, ts in readings:
            key = (device_id, metric)
            flags, state = assess(
                value,
                ts,
                received_at=received_at,
                limits=limits.get(device_id, no_limits).get(metric),
                previous=states.get(key),
                rules=rules,
            )
            if state is not None:
                states[key] = state
                states.move_to_end(key)
            out.append(flags)
        while len(states) > self.max_series:
            states.popitem(last=False)
        return out
