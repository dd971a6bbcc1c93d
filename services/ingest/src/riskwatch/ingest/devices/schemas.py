"""API models of the device registry."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from riskwatch.common.inputs import Key, Line

DeviceStatus = Literal["active", "retired"]
DEVICE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"


class DevicePut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Line = Field(min_length=1, max_length=200)
    scenario_id: Annotated[Key, Field(examples=["gas"])]
    town_id: Annotated[Key | None, Field(examples=["lujiazui"])] = None
    village_id: Annotated[Key | None, Field(examples=["lujiazui-meiyuan"])] = None
    site: Line | None = Field(default=None, max_length=200)
    status: DeviceStatus = "active"


class DeviceRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    device_id: str
    name: str
    sector_id: str
    scenario_id: str
    town_id: str | None
    village_id: str | None
    site: str | None
    status: DeviceStatus
    created_at: datetime
    updated_at: datetime


class DevicePage(BaseModel):
    items: list[DeviceRead]
    next_cursor: str | None = None
