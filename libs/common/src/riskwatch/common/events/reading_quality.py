"""Topic `rw.reading-quality`, key `sector_id`: the readings of one sector in one completed hour
and how many of them carried each quality flag, counted once by ingest from its raw store.

The counts are of readings by their timestamp (`ts` in [hour_start, hour_end)) that ingest had
stored when it counted (`counted_at`); one that arrives later is not counted again. A sector's
devices with at least one flagged reading are listed, the most flagged first, up to a bound
(`devices_flagged` says how many there were); the sector's totals count every device.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from riskwatch.common.events.base import DeviceRef, EventPayload, Timestamp, event_type

# Flag names (the contract's readings.FLAG_NAMES) to readings with that flag.
FlagCounts = dict[str, int]


class DeviceQuality(BaseModel):
    """One device's readings of the hour."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    device: DeviceRef
    readings: int = Field(ge=0)
    flagged: int = Field(ge=0, description="Readings with at least one flag")
    by_flag: FlagCounts = Field(description="Flag name -> readings with that flag")


@event_type("rw.readings.quality_counted.v1")
class ReadingQualityCounted(EventPayload):
    sector_id: str
    hour_start: Timestamp
    hour_end: Timestamp
    counted_at: Timestamp
    readings: int = Field(ge=0, description="Every reading of the sector's devices in the hour")
    flagged: int = Field(ge=0, description="Readings with at least one flag")
    by_flag: FlagCounts = Field(description="Flag name -> readings with that flag")
    devices_flagged: int = Field(ge=0, description="Devices with at least one flagged reading")
    devices: list[DeviceQuality] = Field(
        description="The devices with flagged readings, most flagged first, up to a bound"
    )
