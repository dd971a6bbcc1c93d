"""Use cases of threshold rules. Callers own the transaction."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.alerting.models import generations
from riskwatch.alerting.rules.cache import RULES
from riskwatch.alerting.rules.domain import Thresholds, threshold_problems
from riskwatch.alerting.rules.models import Rule
from riskwatch.alerting.rules.schemas import RulePut
from riskwatch.common.access import DISTRICT, Scope
from riskwatch.common.audit.emit import AuditContext
from riskwatch.common.catalog import Catalog
from riskwatch.common.errors import Forbidden, Invalid, NotFound
from riskwatch.common.pagination import keyset, page_of

# What a rule detects: a change makes a new version (alarms name the version that raised them).
_DEFINITION = (
    "scenario_id",
    "metric",
    "direction",
    "blue",
    "yellow",
    "orange",
    "red",
    "ignore_flags",
)


async def put_rule(
    session: AsyncSession,
    *,
    catalog: Catalog,
    rule_id: str,
    data: RulePut,
    scope: Scope = DISTRICT,
    audit: AuditContext | None = None,
) -> tuple[Rule, bool]:
    """Create or change a rule; a change to what it detects makes a new version."""
    if catalog.scenario(data.scenario_id) is None:
        raise Invalid(f"Unknown scenario {data.scenario_id!r}.", field="scenario_id")
    _check_scope(catalog, scope, data.scenario_id)
    problems = threshold_problems(
        data.direction, Thresholds(data.blue, data.yellow, data.orange, data.red)
    )
    if problems:
        raise Invalid("The thresholds are not coherent.", problems=problems)
    rule = await session.get(Rule, rule_id, with_for_update=True)
    if rule is not None:
        _check_scope(catalog, scope, rule.scenario_id)
    values = data.model_dump()
    if audit is not None:
        audit.changed(_snapshot(rule) if rule is not None else None, values)
    if rule is None:
        rule = Rule(rule_id=rule_id, version=1, **values)
        session.add(rule)
        await generations.bump(session, RULES)
        await session.flush()
        return rule, True
    if all(getattr(rule, k) == v for k, v in values.items()):
        return rule, False  # the same PUT again: nothing changes, caches stay
    if any(getattr(rule, k) != values[k] for k in _DEFINITION):
        rule.version += 1
    for key, value in values.items():
        setattr(rule, key, value)
    await generations.bump(session, RULES)
    await session.flush()
    return rule, False


def _check_scope(catalog: Catalog, scope: Scope, scenario_id: str) -> None:
    if scope.is_district:
        return
    if scope.kind == "sector" and catalog.sector_of_scenario(scenario_id) == scope.id:
        return
    raise Forbidden(f"Rules of scenario {scenario_id!r} are outside your scope ({scope}).")


def _snapshot(rule: Rule) -> dict[str, object]:
    return {c.key: getattr(rule, c.key) for c in Rule.__table__.columns if c.key in _FIELDS}


_FIELDS = frozenset(RulePut.model_fields)


async def get_rule_or_raise(session: AsyncSession, *, rule_id: str) -> Rule:
    rule = await session.get(Rule, rule_id)
    if rule is None:
        raise NotFound(f"No rule {rule_id!r}.")
    return rule


async def list_rules(
    session: AsyncSession,
    *,
    scenario_id: str | None,
    metric: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[Rule], str | None]:
    stmt = select(Rule)
    if scenario_id:
        stmt = stmt.where(Rule.scenario_id == scenario_id)
    if metric:
        stmt = stmt.where(Rule.metric == metric)
    stmt = keyset(stmt, at=Rule.created_at, id_=Rule.rule_id, cursor=cursor, limit=limit)
    return page_of((await session.scalars(stmt)).all(), limit=limit, at="created_at", id_="rule_id")
