"""The monthly report's devices section, pure: the time-weighted online rate (from ingest's
DeviceStatusChanged events) and the readings' quality flags (from its hourly
ReadingQualityCounted events). Facts in, numbers out; no I/O.

ONLINE RATE. A device's status history is rebuilt from its status changes in time order,
whatever order they arrived in: from each instant on, the device has the status its changes at
that instant end in (several at one instant, a zero-length period between them, form a chain
`previous -> status`; the status the chain ends in is the one entered once more than left).
Each stretch belongs to the sector, scenario and town the device had at the change that began
it. The rate is `riskwatch.common.uptime`'s, the same as ingest's online rate API: online time
over observed time within [month start, as_of); a device is observed from its first status
change (ingest watches a device with a profile from its first reading), `offline` and `fault`
are observed and not online. A group's rate is time-weighted (sum online / sum observed).
LEAST ONLINE lists the devices with offline time, lowest rate first.

QUALITY. An hour counts in the month its start falls in; per sector, the readings ingest had
stored for that hour when it counted it, those with at least one flag, and per flag. MOST
FLAGGED lists the devices with the most flagged readings in the month, as far as the hourly
events listed them (the most flagged devices of each sector and hour, up to ingest's bound).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from itertools import groupby
from typing import Final

from riskwatch.common.events.device_status import DeviceState
from riskwatch.common.events.readings import FLAG_NAMES
from riskwatch.common.uptime import Period, Uptime, total, uptime

DEVICES_LISTED: Final = 10
NO_TOWN: Final = "none"
FLAGS: Final[tuple[str, ...]] = tuple(name for name, _ in FLAG_NAMES)


@dataclass(frozen=True, slots=True)
class Place:
    sector_id: str
    scenario_id: str
    town_id: str | None = None


@dataclass(frozen=True, slots=True)
class StatusChangeFact:
    """One DeviceStatusChanged of a device."""

    device_id: str
    status: DeviceState
    previous_status: DeviceState | None
    changed_at: datetime
    place: Place


@dataclass(frozen=True, slots=True)
class PlacedPeriod:
    period: Period
    place: Place


def _place_key(place: Place) -> tuple[str, str, str]:
    return (place.sector_id, place.scenario_id, place.town_id or "")


def _status_after(changes: Sequence[StatusChangeFact], before: DeviceState | None) -> DeviceState:
    """The status a device has after its changes of one instant (see the module's docstring):
    the one entered once more than it was left; when every status was entered as often as
    left, the status before the instant."""
    net: Counter[DeviceState] = Counter()
    for c in changes:
        net[c.status] += 1
        if c.previous_status is not None:
            net[c.previous_status] -= 1
    ahead = sorted(s for s, n in net.items() if n > 0)
    if ahead:
        return ahead[0]
    # A loop back to where it was; with no earlier change known, any choice is a guess, so at
    # least the same one whatever the order.
    return before if before is not None else min(c.status for c in changes)


def status_periods(changes: Iterable[StatusChangeFact]) -> list[PlacedPeriod]:
    """One device's status history from its changes, in any order and with repeats of the same
    change left out beforehand (reporting keeps each event once); the last period is open."""
    instants = [
        list(group)
        for _, group in groupby(
            sorted(changes, key=lambda c: (c.changed_at, c.status, _place_key(c.place))),
            key=lambda c: c.changed_at,
        )
    ]
    periods: list[PlacedPeriod] = []
    status: DeviceState | None = None
    for n, same_instant in enumerate(instants):
        status = _status_after(same_instant, status)
        at = same_instant[0].changed_at
        place = min(same_instant, key=lambda c: _place_key(c.place)).place
        until = instants[n + 1][0].changed_at if n + 1 < len(instants) else None
        last = periods[-1] if periods else None
        if last is not None and last.period.status == status and last.place == place:
            periods[-1] = PlacedPeriod(Period(status, last.period.from_at, until), place)
        else:
            periods.append(PlacedPeriod(Period(status, at, until), place))
    return periods


@dataclass(frozen=True, slots=True)
class UptimeStats:
    devices: int  # with observed time in the month
    online_s: float
    offline_s: float  # observed and not online
    observed_s: float
    rate: float | None  # online_s / observed_s; None when nothing was observed

    @classmethod
    def of(cls, devices: int, part: Uptime) -> UptimeStats:
        return cls(devices, part.online_s, part.offline_s, part.observed_s, part.rate)


@dataclass(frozen=True, slots=True)
class DeviceUptime:
    device_id: str
    name: str | None
    sector_id: str  # where it was last in the month
    scenario_id: str
    town_id: str | None
    online_s: float
    offline_s: float
    observed_s: float
    rate: float | None


@dataclass(frozen=True, slots=True)
class OnlineSection:
    overall: UptimeStats
    by_sector: dict[str, UptimeStats]  # every sector of the report, then any other seen
    by_scenario: dict[str, UptimeStats]  # each seen, sorted
    by_town: dict[str, UptimeStats]  # each seen, sorted; NO_TOWN for devices of no town
    least_online: list[DeviceUptime]  # DEVICES_LISTED at most


def online_section(
    changes: Iterable[StatusChangeFact],
    *,
    start: datetime,
    end: datetime,
    as_of: datetime,
    sector_ids: Sequence[str],
    names: Mapping[str, str | None] | None = None,
    only_sector: str | None = None,
) -> OnlineSection:
    """The online rate of [start, end) read as of `as_of`; with `only_sector`, only the time
    devices spent in that sector."""
    names = names or {}
    window = {"start": start, "end": end, "now": as_of}
    parts: dict[tuple[str, Place], Uptime] = {}  # per device and place, its time in the window
    last_place: dict[str, Place] = {}  # where its last stretch in the window was
    for device_id, own in groupby(
        sorted(changes, key=lambda c: c.device_id), lambda c: c.device_id
    ):
        placed = [
            p
            for p in status_periods(own)
            if only_sector is None or p.place.sector_id == only_sector
        ]
        for place in sorted({p.place for p in placed}, key=_place_key):  # a fixed sum order
            part = uptime((p.period for p in placed if p.place == place), **window)
            if part.observed_s > 0:
                parts[device_id, place] = part
        observed = [p.place for p in placed if uptime([p.period], **window).observed_s > 0]
        if observed:
            last_place[device_id] = observed[-1]

    def by(key: Callable[[Place], str]) -> dict[str, UptimeStats]:
        groups: dict[str, list[tuple[str, Uptime]]] = {}
        for (device_id, place), part in parts.items():
            groups.setdefault(key(place), []).append((device_id, part))
        return {k: _stats(v) for k, v in sorted(groups.items())}

    by_sector = by(lambda p: p.sector_id)
    per_device: dict[str, Uptime] = {}
    for (device_id, _), part in parts.items():
        per_device[device_id] = per_device.get(device_id, Uptime()) + part
    least = sorted(
        (d for d, part in per_device.items() if part.offline_s > 0),
        key=lambda d: (per_device[d].rate or 0.0, -per_device[d].offline_s, d),
    )[:DEVICES_LISTED]
    return OnlineSection(
        overall=_stats([(device_id, part) for (device_id, _), part in parts.items()]),
        by_sector={
            **{s: by_sector.get(s, UptimeStats.of(0, Uptime())) for s in sector_ids},
            **by_sector,
        },
        by_scenario=by(lambda p: p.scenario_id),
        by_town=by(lambda p: p.town_id or NO_TOWN),
        least_online=[_device_uptime(d, names.get(d), last_place[d], per_device[d]) for d in least],
    )


def _stats(parts: Sequence[tuple[str, Uptime]]) -> UptimeStats:
    """A group's time-weighted total of (device id, its uptime) parts; a device counts once
    however many places it had."""
    return UptimeStats.of(len({d for d, _ in parts}), total(part for _, part in parts))


def _device_uptime(device_id: str, name: str | None, place: Place, part: Uptime) -> DeviceUptime:
    return DeviceUptime(
        device_id=device_id,
        name=name,
        sector_id=place.sector_id,
        scenario_id=place.scenario_id,
        town_id=place.town_id,
        online_s=part.online_s,
        offline_s=part.offline_s,
        observed_s=part.observed_s,
        rate=part.rate,
    )


# -- quality ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QualityHourFact:
    """One sector's counts of one hour (a ReadingQualityCounted)."""

    sector_id: str
    hour_start: datetime
    readings: int
    flagged: int
    by_flag: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeviceQualityFact:
    """One device's counts summed over the hours of the month that listed it; its name and
    place those of the last of them."""

    device_id: str
    name: str | None
    sector_id: str
    scenario_id: str
    town_id: str | None
    readings: int
    flagged: int
    by_flag: Mapping[str, int] = field(default_factory=dict)

    @property
    def flagged_share(self) -> float | None:
        return _share(self.flagged, self.readings)


@dataclass(frozen=True, slots=True)
class QualityStats:
    hours: int  # hours counted (sector-hours for more than one sector)
    readings: int
    flagged: int  # with at least one flag
    flagged_share: float | None  # flagged / readings; None without readings
    by_flag: dict[str, int]  # every flag, in bit order, then any other seen


@dataclass(frozen=True, slots=True)
class QualitySection:
    overall: QualityStats
    by_sector: dict[str, QualityStats]  # every sector of the report, then any other seen
    most_flagged: list[DeviceQualityFact]  # DEVICES_LISTED at most, every flag in by_flag


def quality_section(
    hours: Iterable[QualityHourFact],
    devices: Iterable[DeviceQualityFact],
    *,
    start: datetime,
    end: datetime,
    sector_ids: Sequence[str],
) -> QualitySection:
    """The quality counts of the hours starting in [start, end)."""
    counted = [h for h in hours if start <= h.hour_start < end]
    seen = sorted({h.sector_id for h in counted} - set(sector_ids))
    most = sorted((d for d in devices if d.flagged), key=lambda d: (-d.flagged, d.device_id))
    return QualitySection(
        overall=_quality(counted),
        by_sector={
            s: _quality([h for h in counted if h.sector_id == s]) for s in (*sector_ids, *seen)
        },
        most_flagged=[replace(d, by_flag=flag_counts([d.by_flag])) for d in most[:DEVICES_LISTED]],
    )


def _quality(hours: Sequence[QualityHourFact]) -> QualityStats:
    readings = sum(h.readings for h in hours)
    flagged = sum(h.flagged for h in hours)
    return QualityStats(
        hours=len(hours),
        readings=readings,
        flagged=flagged,
        flagged_share=_share(flagged, readings),
        by_flag=flag_counts(h.by_flag for h in hours),
    )


def flag_counts(parts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Per flag counts summed: every flag in bit order (0 when none), then any other seen."""
    summed: Counter[str] = Counter()
    for part in parts:
        summed.update(part)
    return {**dict.fromkeys(FLAGS, 0), **dict(sorted(summed.items()))}


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True, slots=True)
class DevicesSection:
    online: OnlineSection
    quality: QualitySection


@dataclass(frozen=True, slots=True)
class DeviceFacts:
    """What the devices section is made of, as the report's service loads it."""

    # Each device's changes from its last instant before the month (its status at the start)
    # to the month's end.
    status_changes: Sequence[StatusChangeFact] = ()
    names: Mapping[str, str | None] = field(default_factory=dict)
    quality_hours: Sequence[QualityHourFact] = ()
    quality_devices: Sequence[DeviceQualityFact] = ()
    # A sector's report: only the time devices spent in that sector.
    sector_id: str | None = None


def devices_section(
    facts: DeviceFacts,
    *,
    start: datetime,
    end: datetime,
    as_of: datetime,
    sector_ids: Sequence[str],
) -> DevicesSection:
    return DevicesSection(
        online=online_section(
            facts.status_changes,
            start=start,
            end=end,
            as_of=as_of,
            sector_ids=sector_ids,
            names=facts.names,
            only_sector=facts.sector_id,
        ),
        quality=quality_section(
            facts.quality_hours,
            facts.quality_devices,
            start=start,
            end=end,
            sector_ids=sector_ids,
        ),
    )
