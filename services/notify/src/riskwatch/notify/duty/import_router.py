"""HTTP API of the bulk import of duty centers: one center per request, so that
`riskwatch duty import` shows its progress and reports every center on its own."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends

from riskwatch.common.access import Permission
from riskwatch.common.auth import Principal, require
from riskwatch.common.deps import AuditDep, CatalogDep, SessionDep, settings_dependency
from riskwatch.common.errors import Forbidden, problem_responses
from riskwatch.notify.duty import importer
from riskwatch.notify.duty.importer import CenterEntry, CenterOutcome
from riskwatch.notify.settings import NotifySettings

router = APIRouter(tags=["duty"])

Manager = Annotated[Principal, Depends(require(Permission.DUTY_MANAGE))]
Settings = Annotated[NotifySettings, Depends(settings_dependency("notify", NotifySettings))]


@router.post(
    "/api/v1/duty-centers/import",
    response_model=CenterOutcome,
    responses=problem_responses(403, 409, 422),
)
async def import_duty_center(
    body: CenterEntry,
    session: SessionDep,
    caller: Manager,
    catalog: CatalogDep,
    settings: Settings,
    audit: AuditDep,
) -> CenterOutcome:
    """Create a duty center or bring it in line with `body`: its name, fallback and group robot,
    its members (added or updated, none removed; their e-mail and locale when given), its
    leader, and a roster published at once, each person on it told their shifts. Idempotent:
    the same body again answers `unchanged`, and a roster whose period published rosters cover
    is kept (on a later day, with a relative `first_day`, only the days after them are
    published). A refusal (an unknown sector, a robot host not allowed, a gap, someone on two
    centers at once) is a problem answer and changes nothing."""
    if not caller.scope.is_district:
        raise Forbidden("Duty centers are managed by district-wide accounts.")
    if audit is not None:
        audit.resource = f"duty-centers/{body.id}"
    outcome = await importer.apply_center(
        session,
        catalog=catalog,
        entry=body,
        by=caller.subject,
        now=datetime.now(UTC),
        tz=catalog.district.zone,
        robot_hosts=settings.robot_allowed_hosts,
    )
    outcome.raise_if_failed()
    if audit is not None:
        audit.changed(None, outcome.model_dump(mode="json"))
    return outcome
