"""API models of the command manual."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from riskwatch.common.inputs import FreeText
from riskwatch.workorder.manual.domain import ManualBody, ManualEntry, ManualStatus

__all__ = ["ApproveBody", "ManualBody", "ManualRead", "ManualSummary"]


class ApproveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Annotated[FreeText, StringConstraints(strip_whitespace=True, max_length=2000)] | None = (
        None
    )


class ManualSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    version: int
    status: ManualStatus
    note: str | None
    created_by: str
    created_at: datetime
    reviewed_by: str | None
    reviewed_at: datetime | None


class ManualRead(ManualSummary):
    review_note: str | None
    entries: list[ManualEntry]
