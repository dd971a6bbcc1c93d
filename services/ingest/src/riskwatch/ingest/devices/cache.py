"""A bounded, per-process cache of device registrations for the readings path.

Each request checks the registry's change counter (one indexed row) and drops the cache when a
registration changed anywhere, on any replica; devices it has not seen yet are loaded in one
query. A device's catalog reference is kept already encoded, ready for the readings records.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.events.base import DeviceRef
from riskwatch.common.events.readings import device_json
from riskwatch.ingest.devices.models import Device
from riskwatch.ingest.models import generations
from riskwatch.ingest.readings.domain import DeviceInfo

# The name of the registry's change counter (riskwatch.common.generation).
DEVICES = "devices"


@dataclass(frozen=True, slots=True)
class KnownDevice:
    info: DeviceInfo
    json: orjson.Fragment  # the DeviceRef of readings records


class DeviceCache:
    def __init__(self, *, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, KnownDevice] = OrderedDict()
        self._generation: int | None = None

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def generation(self) -> int | None:
        """The registry's change counter as the last `get_many` read it (profiles share it)."""
        return self._generation

    async def get_many(
        self, session: AsyncSession, device_ids: Iterable[str]
    ) -> dict[str, KnownDevice]:
        """The registered devices among `device_ids`, as of this transaction."""
        generation = await generations.current(session, DEVICES)
        if generation != self._generation:
            self._entries.clear()
            self._generation = generation
        found: dict[str, KnownDevice] = {}
        missing: list[str] = []
        entries = self._entries
        for device_id in device_ids:
            known = entries.get(device_id)
            if known is None:
                missing.append(device_id)
            else:
                entries.move_to_end(device_id)
                found[device_id] = known
        if missing:
            for known_id, known in (await _load(session, missing)).items():
                found[known_id] = entries[known_id] = known
            while len(entries) > self.max_entries:
                entries.popitem(last=False)
        return found


async def _load(session: AsyncSession, device_ids: list[str]) -> dict[str, KnownDevice]:
    rows = await session.execute(
        select(
            Device.device_id,
            Device.sector_id,
            Device.scenario_id,
            Device.town_id,
            Device.village_id,
            Device.name,
            Device.status,
            Device.profile_id,
        ).where(Device.device_id.in_(device_ids))
    )
    loaded = {}
    for device_id, sector_id, scenario_id, town_id, village_id, name, status, profile_id in rows:
        ref = DeviceRef(
            device_id=device_id,
            sector_id=sector_id,
            scenario_id=scenario_id,
            town_id=town_id,
            village_id=village_id,
            name=name,
        )
        loaded[device_id] = KnownDevice(DeviceInfo(sector_id, status, profile_id), device_json(ref))
    return loaded
