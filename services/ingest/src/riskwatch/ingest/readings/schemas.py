"""API models of the readings endpoint."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class ReadingError(BaseModel):
    index: int
    reason: str
    detail: str


class BatchAccepted(BaseModel):
    batch_id: str
    accepted: int
    duplicates: int
    rejected: int
    errors: list[ReadingError]


class SeriesBucketRead(BaseModel):
    start: datetime = Field(description="The bucket's start; buckets align on UTC midnight")
    min: float
    max: float
    avg: float
    count: int
    flagged: int = Field(description="Readings of the bucket with a data quality flag")


class SeriesRead(BaseModel):
    device_id: str
    metric: str
    bucket: str
    from_: datetime = Field(serialization_alias="from")
    to: datetime
    buckets: list[SeriesBucketRead] = Field(description="Buckets with readings, in time order")


class LatestReadingRead(BaseModel):
    metric: str
    value: float
    ts: datetime
    received_at: datetime
    flags: list[str] = Field(description="out_of_range, late, stuck, spike, gap")


class LatestRead(BaseModel):
    device_id: str
    metrics: list[LatestReadingRead]


class QualityGroupRead(BaseModel):
    key: str = Field(description="The device id or the sector id")
    flagged: int = Field(description="Readings with at least one flag")
    out_of_range: int
    late: int
    stuck: int
    spike: int
    gap: int


class QualityRead(BaseModel):
    from_: datetime = Field(serialization_alias="from")
    to: datetime
    group_by: str
    items: list[QualityGroupRead]
