"""HTTP API of the command manual (指挥手册): draft a version (JSON, or a YAML file as the
import), approve it (a department head other than the author), read versions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.access import Permission
from riskwatch.common.audit.emit import AuditContext
from riskwatch.common.auth import Principal, require
from riskwatch.common.catalog import Catalog
from riskwatch.common.deps import AuditDep, CatalogDep, ReadSessionDep, SessionDep
from riskwatch.common.errors import Forbidden, Invalid, problem_responses
from riskwatch.workorder.manual import service
from riskwatch.workorder.manual.schemas import ApproveBody, ManualBody, ManualRead, ManualSummary

router = APIRouter(prefix="/api/v1/command-manual", tags=["command manual"])

Reader = Annotated[Principal, Depends(require(Permission.WORKORDERS_READ))]
Drafter = Annotated[Principal, Depends(require(Permission.WORKORDERS_MANAGE))]
Approver = Annotated[Principal, Depends(require(Permission.WORKORDERS_REVIEW))]
MAX_MANUAL_BYTES = 2 * 1024 * 1024
APPROVER_ROLE = "department_head"


@router.get("", response_model=ManualRead, responses=problem_responses(404))
async def current_manual(session: ReadSessionDep, caller: Reader) -> ManualRead:
    """The manual in force: the newest approved version."""
    return ManualRead.model_validate(await service.current(session))


@router.get("/versions", response_model=list[ManualSummary])
async def versions(session: ReadSessionDep, caller: Reader) -> list[ManualSummary]:
    """Every version, newest first: drafts, the approved one, the superseded ones."""
    return [ManualSummary.model_validate(v) for v in await service.list_versions(session)]


@router.get("/versions/{version}", response_model=ManualRead, responses=problem_responses(404))
async def version(version: int, session: ReadSessionDep, caller: Reader) -> ManualRead:
    return ManualRead.model_validate(await service.get_version(session, version))


@router.post(
    "/versions", response_model=ManualRead, status_code=201, responses=problem_responses(422)
)
async def draft(
    body: ManualBody,
    session: SessionDep,
    caller: Drafter,
    audit: AuditDep,
    catalog: CatalogDep,
) -> ManualRead:
    """Save a new version as a draft. Every problem is listed; nothing applies until a
    department head approves it."""
    return await _draft(body, session, caller, audit, catalog)


@router.post(
    "/versions/import",
    response_model=ManualRead,
    status_code=201,
    responses=problem_responses(413, 422),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/yaml": {"schema": {"type": "string"}}},
        }
    },
)
async def import_file(
    request: Request,
    session: SessionDep,
    caller: Drafter,
    audit: AuditDep,
    catalog: CatalogDep,
) -> ManualRead:
    """Import a manual file (YAML, the format of the demo's `manual/demo.yaml`; JSON is YAML
    too) as a new draft version."""
    raw = await request.body()
    if len(raw) > MAX_MANUAL_BYTES:
        raise Invalid(f"A manual is at most {MAX_MANUAL_BYTES} bytes.")
    return await _draft(service.parse_manual(raw), session, caller, audit, catalog)


async def _draft(
    body: ManualBody,
    session: AsyncSession,
    caller: Principal,
    audit: AuditContext | None,
    catalog: Catalog,
) -> ManualRead:
    row = await service.draft(
        session,
        body=body,
        catalog=catalog,
        actor=caller.subject,
        now=datetime.now(UTC),
        audit=audit,
    )
    return ManualRead.model_validate(row)


@router.post(
    "/versions/{version}/approve",
    response_model=ManualRead,
    responses=problem_responses(403, 404, 409),
)
async def approve(
    version: int,
    session: SessionDep,
    caller: Approver,
    audit: AuditDep,
    body: ApproveBody | None = None,
) -> ManualRead:
    """A department head reviews the draft and puts it in force (orders created from now on
    follow it); the version before is superseded. The author cannot approve their own."""
    if APPROVER_ROLE not in caller.roles:
        raise Forbidden("Only a department head (部门责任人) approves the command manual.")
    row = await service.approve(
        session,
        version=version,
        actor=caller.subject,
        note=body.note if body else None,
        now=datetime.now(UTC),
        audit=audit,
    )
    return ManualRead.model_validate(row)
