"""API models of the device registry."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from riskwatch.common.inputs import ONE_LINE_PATTERN, Key, Line

DeviceStatus = Literal["active", "retired"]
DEVICE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
PROFILE_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
# A reading's metric (readings/domain.py takes 1-64 characters, one line).
METRIC_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$"

ProfileId = Annotated[str, StringConstraints(pattern=PROFILE_ID_PATTERN)]
GatewayId = Annotated[str, StringConstraints(pattern=DEVICE_ID_PATTERN)]
UnitId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=ONE_LINE_PATTERN)]

# The registration's details beyond its placement (issue 11). A PUT that leaves one of them
# out keeps what the device has, so clients that predate them do not erase them.
DETAIL_FIELDS = ("profile_id", "lon", "lat", "address", "owner_unit", "gateway_id")


# -- profiles ------------------------------------------------------------------------------


class MetricSpec(BaseModel):
    """One metric a profile's devices report."""

    model_config = ConfigDict(extra="forbid")

    metric: Annotated[str, StringConstraints(pattern=METRIC_PATTERN), Field(examples=["ch4_lel"])]
    unit: Line = Field(max_length=32, examples=["%LEL"])
    min: float = Field(allow_inf_nan=False, description="Lowest value the sensor can measure")
    max: float = Field(allow_inf_nan=False, description="Highest value the sensor can measure")
    precision: int = Field(ge=0, le=12, description="Decimal places the sensor resolves")
    interval_s: int = Field(
        gt=0, le=31 * 86_400, description="Expected seconds between two readings"
    )

    @model_validator(mode="after")
    def _range(self) -> Self:
        if self.min >= self.max:
            raise ValueError("min must be below max")
        return self


class ProfilePut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Line = Field(min_length=1, max_length=200)
    metrics: list[MetricSpec] = Field(min_length=1, max_length=100)
    offline_after_intervals: int = Field(
        default=3,
        ge=1,
        le=100,
        description="A device is offline after this many expected intervals without a reading",
    )

    @model_validator(mode="after")
    def _unique_metrics(self) -> Self:
        seen: set[str] = set()
        for spec in self.metrics:
            if spec.metric in seen:
                raise ValueError(f"metric {spec.metric} is listed twice")
            seen.add(spec.metric)
        return self


class ProfileRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    profile_id: str
    name: str
    metrics: list[MetricSpec]
    offline_after_intervals: int
    created_at: datetime
    updated_at: datetime


class ProfilePage(BaseModel):
    items: list[ProfileRead]
    next_cursor: str | None = None


# -- devices -------------------------------------------------------------------------------


class DevicePut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Line = Field(min_length=1, max_length=200)
    scenario_id: Annotated[Key, Field(examples=["gas"])]
    town_id: Annotated[Key | None, Field(examples=["lujiazui"])] = None
    village_id: Annotated[Key | None, Field(examples=["lujiazui-meiyuan"])] = None
    site: Line | None = Field(default=None, max_length=200)
    status: DeviceStatus = "active"
    # Details: left out, the device keeps what it has; null clears one.
    profile_id: Annotated[ProfileId | None, Field(examples=["gas-ch4-v1"])] = None
    lon: float | None = Field(
        default=None, ge=-180, le=180, allow_inf_nan=False, description="WGS 84 longitude"
    )
    lat: float | None = Field(
        default=None, ge=-90, le=90, allow_inf_nan=False, description="WGS 84 latitude"
    )
    address: Line | None = Field(default=None, max_length=300)
    owner_unit: Annotated[
        UnitId | None,
        Field(description="The duty center answerable for it", examples=["street-lujiazui"]),
    ] = None
    gateway_id: Annotated[
        GatewayId | None,
        Field(description="The gateway it reports through (any gateway id, not checked)"),
    ] = None

    @model_validator(mode="after")
    def _location(self) -> Self:
        if (self.lon is None) != (self.lat is None):
            raise ValueError("lon and lat go together")
        if ("lon" in self.model_fields_set) != ("lat" in self.model_fields_set):
            raise ValueError("lon and lat go together")
        return self

    def values(self) -> dict[str, object]:
        """The columns this registration sets: every placement field, and the details sent."""
        return self.model_dump(exclude=set(DETAIL_FIELDS) - self.model_fields_set)


class DeviceRow(DevicePut):
    """One device of a bulk registration."""

    device_id: Annotated[str, StringConstraints(pattern=DEVICE_ID_PATTERN)]


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
    profile_id: str | None = None
    lon: float | None = None
    lat: float | None = None
    address: str | None = None
    owner_unit: str | None = None
    gateway_id: str | None = None
    created_at: datetime
    updated_at: datetime


class DevicePage(BaseModel):
    items: list[DeviceRead]
    next_cursor: str | None = None


# -- bulk ----------------------------------------------------------------------------------

RowStatus = Literal["created", "updated", "unchanged", "rejected"]


class BulkRowResult(BaseModel):
    row: int = Field(description="The row's position in the request, from 1")
    device_id: str | None = Field(description="As sent, when it is a valid device id")
    status: RowStatus
    reason: str | None = Field(default=None, description="Why it was rejected")
    field: str | None = Field(default=None, description="The field at fault, when one is")


class BulkResult(BaseModel):
    created: int
    updated: int
    unchanged: int
    rejected: int
    results: list[BulkRowResult] = Field(description="One per row, in the request's order")
