"""API models of the readings endpoint."""

from __future__ import annotations

from pydantic import BaseModel


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
