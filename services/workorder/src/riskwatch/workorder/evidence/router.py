"""HTTP API of evidence: attach photos and documents to a work order, list and download them."""

from __future__ import annotations

import base64
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Response, UploadFile

from riskwatch.common.access import Permission
from riskwatch.common.auth import Principal, require
from riskwatch.common.deps import AuditDep, ReadSessionDep, SessionDep
from riskwatch.common.errors import problem_responses
from riskwatch.common.inputs import Key
from riskwatch.workorder.evidence import service
from riskwatch.workorder.evidence.deps import EvidenceDep
from riskwatch.workorder.evidence.errors import ContentTooLarge
from riskwatch.workorder.evidence.models import Kind
from riskwatch.workorder.evidence.schemas import AttachmentList, AttachmentRead
from riskwatch.workorder.workorders.access import ensure_can_act
from riskwatch.workorder.workorders.service import get_work_order_or_raise

router = APIRouter(prefix="/api/v1/workorders/{work_order_id}/attachments", tags=["evidence"])

Reader = Annotated[Principal, Depends(require(Permission.WORKORDERS_READ))]
Actor = Annotated[Principal, Depends(require(Permission.WORKORDERS_ACT))]

_UPLOAD_PROBLEMS = problem_responses(
    409,
    413,
    415,
    descriptions={
        403: "The caller may not act on this work order: it is neither the assignee nor on "
        "duty for the order's unit, or its roles lack workorders:act",
        409: "The work order is closed: it takes no more evidence",
        413: "The file is larger than RW_EVIDENCE__MAX_BYTES",
        415: "The file's content is not an accepted type (JPEG, PNG, WebP or PDF; a photo "
        "must be an image), whatever its name or Content-Type say",
    },
)
_DOWNLOAD_PROBLEMS = problem_responses(
    500,
    descriptions={500: "The stored bytes are missing or fail their checksum: not served"},
)


@router.post("", status_code=201, response_model=AttachmentRead, responses=_UPLOAD_PROBLEMS)
async def upload_attachment(
    work_order_id: Key,
    file: UploadFile,
    kind: Annotated[Kind, Form(description="photo (an image) or document")],
    session: SessionDep,
    principal: Actor,
    audit: AuditDep,
    evidence: EvidenceDep,
) -> AttachmentRead:
    """Attach a photo or a document (multipart/form-data: `file` and `kind`). Its type is
    judged by its content; its SHA-256 is recorded and checked on every download."""
    order = await get_work_order_or_raise(
        session, work_order_id=work_order_id, scope=principal.scope
    )
    await ensure_can_act(session, order, principal)
    limit = evidence.settings.max_bytes
    # One byte more than allowed tells too large from just right, without reading the rest.
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise ContentTooLarge(f"Evidence may be at most {limit} bytes.", max_bytes=limit)
    attachment = await service.upload_attachment(
        session,
        evidence.store,
        order=order,
        upload=service.Upload(kind=kind, filename=file.filename, data=data),
        uploaded_by=principal.subject,
        settings=evidence.settings,
        audit=audit,
    )
    return AttachmentRead.model_validate(attachment)


@router.get("", response_model=AttachmentList)
async def list_attachments(
    work_order_id: Key, session: ReadSessionDep, caller: Reader
) -> AttachmentList:
    """The work order's photos and documents, oldest first."""
    await get_work_order_or_raise(session, work_order_id=work_order_id, scope=caller.scope)
    items = await service.list_attachments(session, work_order_id=work_order_id)
    return AttachmentList(items=[AttachmentRead.model_validate(a) for a in items])


@router.get(
    "/{attachment_id}",
    response_class=Response,
    responses={
        200: {
            "description": "The file, as uploaded; `Repr-Digest` carries its SHA-256",
            "content": {"application/octet-stream": {"schema": {"type": "string"}}},
        },
        **_DOWNLOAD_PROBLEMS,
    },
)
async def download_attachment(
    work_order_id: Key,
    attachment_id: Key,
    session: ReadSessionDep,
    caller: Reader,
    evidence: EvidenceDep,
) -> Response:
    """The file, checked against the SHA-256 recorded at upload (never served if it differs)."""
    await get_work_order_or_raise(session, work_order_id=work_order_id, scope=caller.scope)
    attachment = await service.get_attachment_or_raise(
        session, work_order_id=work_order_id, attachment_id=attachment_id
    )
    data = await service.read_attachment(evidence.store, attachment)
    return Response(
        content=data,
        media_type=attachment.content_type,
        headers={
            # Downloaded, never rendered in the API's origin (a PDF with script, an SVG...).
            "Content-Disposition": _disposition(attachment.filename),
            "Repr-Digest": f"sha-256=:{_b64(attachment.sha256)}:",  # RFC 9530
            "Cache-Control": "private, no-store",
        },
    )


def _disposition(filename: str) -> str:
    # RFC 6266: an ASCII fallback, and the real name percent-encoded as UTF-8.
    fallback = filename.encode("ascii", "replace").decode("ascii").replace("?", "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _b64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")
