"""The enabled rules, kept per process and indexed by (scenario, metric).

Every batch of readings first reads the rules' change counter (one indexed row, in the batch's
own transaction) and reloads when it moved, so a reading accepted after a rule change's
response is evaluated with the new version, on every replica (ADR 0009). The cache holds the
rule table's enabled rows and nothing else, so it is bounded by what administrators define.
"""

from __future__ import annotations

from collections.abc import Mapping

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.alerting.models import generations
from riskwatch.alerting.rules.domain import RuleSpec
from riskwatch.alerting.rules.models import Rule

log = structlog.get_logger(__name__)

# The name of the rules' change counter (riskwatch.common.generation).
RULES = "rules"

RuleIndex = Mapping[tuple[str, str], tuple[RuleSpec, ...]]


class RuleCache:
    def __init__(self) -> None:
        self._generation: int | None = None
        self._index: dict[tuple[str, str], tuple[RuleSpec, ...]] = {}

    async def current(self, session: AsyncSession) -> RuleIndex:
        """The enabled rules by (scenario_id, metric), as of this transaction."""
        generation = await generations.current(session, RULES)
        if generation != self._generation:
            grouped: dict[tuple[str, str], list[RuleSpec]] = {}
            for rule in await session.scalars(select(Rule).where(Rule.enabled.is_(True))):
                grouped.setdefault((rule.scenario_id, rule.metric), []).append(rule.spec())
            self._index = {key: tuple(specs) for key, specs in grouped.items()}
            self._generation = generation
            log.info("rules_loaded", generation=generation, rules=sum(map(len, grouped.values())))
        return self._index
