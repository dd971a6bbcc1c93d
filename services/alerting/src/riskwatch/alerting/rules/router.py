"""HTTP API of threshold rules."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status

from riskwatch.alerting.rules import service
from riskwatch.alerting.rules.schemas import RULE_ID_PATTERN, RulePage, RulePut, RuleRead
from riskwatch.common.access import Permission
from riskwatch.common.auth import Principal, require
from riskwatch.common.deps import AuditDep, CatalogDep, ReadSessionDep, SessionDep
from riskwatch.common.inputs import Key
from riskwatch.common.pagination import DEFAULT_LIMIT, MAX_LIMIT

router = APIRouter(prefix="/api/v1/rules", tags=["rules"])

RuleId = Annotated[str, Path(pattern=RULE_ID_PATTERN)]
Reader = Annotated[Principal, Depends(require(Permission.RULES_READ))]
Writer = Annotated[Principal, Depends(require(Permission.RULES_WRITE))]


@router.get("", response_model=RulePage)
async def list_rules(
    session: ReadSessionDep,
    _: Reader,
    scenario_id: Key | None = None,
    metric: Key | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> RulePage:
    items, next_cursor = await service.list_rules(
        session, scenario_id=scenario_id, metric=metric, cursor=cursor, limit=limit
    )
    return RulePage(items=[RuleRead.model_validate(r) for r in items], next_cursor=next_cursor)


@router.get("/{rule_id}", response_model=RuleRead)
async def get_rule(rule_id: RuleId, session: ReadSessionDep, _: Reader) -> RuleRead:
    return RuleRead.model_validate(await service.get_rule_or_raise(session, rule_id=rule_id))


@router.put(
    "/{rule_id}",
    response_model=RuleRead,
    responses={201: {"model": RuleRead, "description": "Created"}},
)
async def put_rule(
    rule_id: RuleId,
    body: RulePut,
    session: SessionDep,
    catalog: CatalogDep,
    response: Response,
    caller: Writer,
    audit: AuditDep,
) -> RuleRead:
    """Create a rule or change it. Changing what it detects (scenario, metric, direction,
    thresholds) bumps its version; alarms record the version that raised them. Rules hold
    district-wide: a sector-scoped account changes only its sector's scenarios' rules, a town
    or village one none."""
    rule, created = await service.put_rule(
        session, catalog=catalog, rule_id=rule_id, data=body, scope=caller.scope, audit=audit
    )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return RuleRead.model_validate(rule)
