"""API models of evidence."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from riskwatch.workorder.evidence.models import Kind


class AttachmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    attachment_id: str
    work_order_id: str
    kind: Kind
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime


class AttachmentList(BaseModel):
    # An order has a handful of photos and documents: no paging.
    items: list[AttachmentRead]
