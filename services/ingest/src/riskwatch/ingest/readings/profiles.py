"""Device profiles as the readings path needs them: per metric its range and interval, cached
in memory by profile id.

The cache follows the registry's change counter that the device cache reads at the start of
each batch (a profile write bumps it too), so it costs no query of its own; a profile not
cached yet is loaded with the others missing in one query.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.ingest.devices.models import DeviceProfile
from riskwatch.ingest.readings.quality import MetricLimits

ProfileLimits = Mapping[str, MetricLimits]  # metric -> limits


class ProfileCache:
    def __init__(self) -> None:
        self._entries: dict[str, ProfileLimits] = {}
        self._generation: int | None = None

    def __len__(self) -> int:
        return len(self._entries)

    async def get_many(
        self, session: AsyncSession, profile_ids: Iterable[str], *, generation: int | None
    ) -> dict[str, ProfileLimits]:
        """The profiles among `profile_ids` (an unknown id is left out), as of `generation`
        (the registry's counter this transaction read)."""
        if generation is None or generation != self._generation:
            self._entries.clear()
            self._generation = generation
        entries = self._entries
        found: dict[str, ProfileLimits] = {}
        missing: list[str] = []
        for profile_id in profile_ids:
            limits = entries.get(profile_id)
            if limits is None:
                missing.append(profile_id)
            else:
                found[profile_id] = limits
        if missing:
            rows = await session.execute(
                select(DeviceProfile.profile_id, DeviceProfile.metrics).where(
                    DeviceProfile.profile_id.in_(missing)
                )
            )
            for profile_id, metrics in rows:
                found[profile_id] = entries[profile_id] = limits_of(metrics)
        return found


def limits_of(metrics: list[dict[str, Any]]) -> dict[str, MetricLimits]:
    """A profile's metrics column (checked by schemas.MetricSpec when written) as limits."""
    return {
        m["metric"]: MetricLimits(float(m["min"]), float(m["max"]), float(m["interval_s"]))
        for m in metrics
    }
