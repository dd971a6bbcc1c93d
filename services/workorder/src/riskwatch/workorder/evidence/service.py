"""Use cases of evidence: attach a photo or document to a work order, list them, read one back.

Callers own the transaction and have already checked who may see or act on the order. The row
is flushed before the bytes are stored, so a refused row stores nothing; a transaction that
fails after the bytes were stored leaves an object no row names (never a row without bytes).
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.audit.emit import AuditContext
from riskwatch.common.errors import Invalid, InvalidState, NotFound
from riskwatch.workorder.evidence.errors import (
    ContentTooLarge,
    EvidenceDamaged,
    EvidenceStoreUnavailable,
    UnsupportedMediaType,
)
from riskwatch.workorder.evidence.models import FILENAME_LENGTH, Kind, WorkOrderAttachment
from riskwatch.workorder.evidence.settings import EvidenceSettings
from riskwatch.workorder.evidence.sniff import EXTENSIONS, content_type_of
from riskwatch.workorder.evidence.storage import (
    ChecksumMismatch,
    EvidenceStore,
    ObjectMissing,
    StorageError,
    sha256_hex,
)
from riskwatch.workorder.workorders.models import WorkOrder

log = structlog.get_logger(__name__)

# The statuses in which an order takes no more evidence.
FINAL_STATUSES = frozenset({"closed"})
_UNSAFE_IN_NAME = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff\"\\/]")


@dataclass(frozen=True, slots=True)
class Upload:
    kind: Kind
    filename: str | None
    data: bytes


async def upload_attachment(
    session: AsyncSession,
    store: EvidenceStore,
    *,
    order: WorkOrder,
    upload: Upload,
    uploaded_by: str,
    settings: EvidenceSettings,
    audit: AuditContext | None = None,
) -> WorkOrderAttachment:
    """Attach `upload` to `order` (whose row the caller holds): its type judged by its bytes."""
    # FOR SHARE: a concurrent close waits for this upload, and this upload sees a close that
    # committed first.
    await session.refresh(order, with_for_update={"read": True})
    if order.status in FINAL_STATUSES:
        raise InvalidState(
            f"Work order {order.work_order_id!r} is {order.status}: it takes no more evidence.",
            work_order_status=order.status,
        )
    content_type = check_upload(upload, settings)
    now = datetime.now(UTC)
    attachment_id = str(uuid.uuid4())
    attachment = WorkOrderAttachment(
        attachment_id=attachment_id,
        work_order_id=order.work_order_id,
        kind=upload.kind,
        filename=clean_filename(upload.filename, content_type),
        content_type=content_type,
        size=len(upload.data),
        sha256=sha256_hex(upload.data),
        storage_key=f"workorders/{order.work_order_id}/{attachment_id}",
        uploaded_by=uploaded_by,
        uploaded_at=now,
    )
    session.add(attachment)
    await session.flush()
    try:
        stored = await store.put(attachment.storage_key, upload.data, content_type)
    except StorageError as exc:
        log.error("evidence_store_failed", key=attachment.storage_key, error=str(exc))
        raise EvidenceStoreUnavailable(
            "The evidence store is not available now; nothing was attached. Send it again."
        ) from exc
    if stored.sha256 != attachment.sha256 or stored.size != attachment.size:  # pragma: no cover
        raise RuntimeError(f"{attachment.storage_key}: the store checksummed other bytes")
    if audit is not None:
        audit.changed(
            None,
            {
                "attachment_id": attachment_id,
                "kind": upload.kind,
                "size": attachment.size,
                "sha256": attachment.sha256,
            },
        )
    return attachment


def check_upload(upload: Upload, settings: EvidenceSettings) -> str:
    """The upload's content type, by its bytes; refused when empty, too large or not allowed."""
    if len(upload.data) > settings.max_bytes:
        raise ContentTooLarge(
            f"Evidence may be at most {settings.max_bytes} bytes.", max_bytes=settings.max_bytes
        )
    if not upload.data:
        raise Invalid("The file is empty.", field="file")
    content_type = content_type_of(upload.data)
    if content_type is None or content_type not in settings.allowed_content_types:
        raise UnsupportedMediaType(
            "The file is not of an accepted type (judged by its content, not its name).",
            accepted=list(settings.allowed_content_types),
        )
    if upload.kind == "photo" and not content_type.startswith("image/"):
        raise UnsupportedMediaType(
            f"A photo must be an image; this file is {content_type}.",
            accepted=[t for t in settings.allowed_content_types if t.startswith("image/")],
        )
    return content_type


def clean_filename(name: str | None, content_type: str) -> str:
    """The client's file name as a label: its last path part, one line, at most 255 chars."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = _UNSAFE_IN_NAME.sub("_", unicodedata.normalize("NFC", base)).strip(" .")
    if not base:
        base = "attachment" + EXTENSIONS.get(content_type, "")
    return base[-FILENAME_LENGTH:]


async def list_attachments(
    session: AsyncSession, *, work_order_id: str
) -> list[WorkOrderAttachment]:
    """The order's evidence, oldest first."""
    stmt = (
        select(WorkOrderAttachment)
        .where(WorkOrderAttachment.work_order_id == work_order_id)
        .order_by(WorkOrderAttachment.uploaded_at, WorkOrderAttachment.attachment_id)
    )
    return list((await session.scalars(stmt)).all())


async def get_attachment_or_raise(
    session: AsyncSession, *, work_order_id: str, attachment_id: str
) -> WorkOrderAttachment:
    attachment = await session.get(WorkOrderAttachment, attachment_id)
    if attachment is None or attachment.work_order_id != work_order_id:
        raise NotFound(f"No attachment {attachment_id!r} on work order {work_order_id!r}.")
    return attachment


async def read_attachment(store: EvidenceStore, attachment: WorkOrderAttachment) -> bytes:
    """The attachment's bytes, checked against the SHA-256 recorded at upload (the store also
    checks them against its own copy of it)."""
    key = attachment.storage_key
    try:
        data = await store.get(key)
    except (ChecksumMismatch, ObjectMissing) as exc:
        log.error("evidence_damaged", key=key, error=str(exc))
        raise EvidenceDamaged(
            "This attachment's stored bytes are missing or altered; they are not served.",
            attachment_id=attachment.attachment_id,
        ) from exc
    except StorageError as exc:
        log.error("evidence_store_failed", key=key, error=str(exc))
        raise EvidenceStoreUnavailable("The evidence store is not available now.") from exc
    actual = sha256_hex(data)
    if actual != attachment.sha256 or len(data) != attachment.size:
        log.error("evidence_damaged", key=key, expected=attachment.sha256, actual=actual)
        raise EvidenceDamaged(
            "This attachment's stored bytes are not those uploaded; they are not served.",
            attachment_id=attachment.attachment_id,
        )
    return data


async def photo_count(session: AsyncSession, work_order_id: str) -> int:
    """How many photos the order has (the closure check asks for those the manual requires)."""
    stmt = select(func.count()).where(
        WorkOrderAttachment.work_order_id == work_order_id,
        WorkOrderAttachment.kind == "photo",
    )
    return int(await session.scalar(stmt) or 0)
