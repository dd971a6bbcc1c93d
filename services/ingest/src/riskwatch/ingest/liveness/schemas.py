"""API models of liveness."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

RATE_DEFINITION = (
    "A device with a profile is watched from its first reading; it is offline once "
    "offline_after_intervals x its profile's smallest interval_s passed since its last reading "
    "(from that moment), online again from its next reading. Its online rate over [from, to) is "
    "its online time over its observed time there; time before its first reading and time not "
    "yet passed are not observed. A group's rate is time-weighted: the sum of its devices' "
    "online time over the sum of their observed time. Devices never observed in the period are "
    "left out."
)


class OnlineRate(BaseModel):
    key: str | None = Field(
        description="The device, sector, scenario or town id; null: devices with no town"
    )
    devices: int = Field(description="Devices observed in the period")
    online_s: float
    observed_s: float
    rate: float | None = Field(description="online_s / observed_s, in [0, 1]")


class OnlineRateReport(BaseModel):
    from_: datetime = Field(alias="from")
    to: datetime
    group_by: Literal["device", "sector", "scenario", "town"]
    definition: str = RATE_DEFINITION
    items: list[OnlineRate]
    total: OnlineRate = Field(description="All devices of the answer, time-weighted")

    model_config = {"populate_by_name": True}
