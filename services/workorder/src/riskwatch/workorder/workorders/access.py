"""Who may do what to a work order (issue 10, item 8): its assignee or its unit's duty staff
act on it; dispatchers (workorders:manage) route it within their scope; reviewers and
supervisors (workorders:review / :supervise) judge it within theirs. Outside the caller's
scope an order does not exist (404, decided before this); inside it, a refusal is a 403 that
says who may."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.access import Permission
from riskwatch.common.auth import Principal
from riskwatch.common.errors import Forbidden
from riskwatch.workorder.workorders.domain import Action
from riskwatch.workorder.workorders.models import UnitMember, WorkOrder

# Actions of the people doing the work: the assignee, or the unit's duty staff.
_HANDS_ON: frozenset[Action] = frozenset(
    {"accept", "return", "arrive", "clear", "feedback", "false_alarm"}
)
# Routing: a dispatcher in scope, or the unit's duty staff passing it on (and closing it).
_ROUTING: frozenset[Action] = frozenset({"dispatch", "transfer"})
# Judging the closure and the loop: a reviewer in scope.
_JUDGING: frozenset[Action] = frozenset({"review", "correct", "reopen", "escalate_tier"})


async def membership(session: AsyncSession, *, unit_id: str | None, person: str) -> bool | None:
    """None: not a member of the unit; False: a member; True: its leader."""
    if unit_id is None:
        return None
    leader = await session.scalar(
        select(UnitMember.leader).where(
            UnitMember.unit_id == unit_id, UnitMember.person_id == person
        )
    )
    return leader


async def ensure_can_act(session: AsyncSession, order: WorkOrder, principal: Principal) -> None:
    """The caller is the order's assignee or one of its unit's duty staff."""
    if order.assignee == principal.subject:
        return
    if await membership(session, unit_id=order.unit_id, person=principal.subject) is not None:
        return
    who = f"its assignee ({order.assignee}) or " if order.assignee else ""
    raise Forbidden(
        f"Only {who}the duty staff of {order.unit_id or 'its unit'} may act on this work order.",
        unit_id=order.unit_id,
        assignee=order.assignee,
    )


async def ensure_allowed(
    session: AsyncSession, order: WorkOrder, principal: Principal, action: Action
) -> None:
    """`principal` may take `action` on `order` (already known to be in their scope)."""
    if action in _HANDS_ON:
        await ensure_can_act(session, order, principal)
        return
    granted = principal.permissions
    if action in _ROUTING or action == "close":  # a reviewed order: its staff may close it
        if Permission.WORKORDERS_MANAGE in granted:
            return
        await ensure_can_act(session, order, principal)
        return
    if action in _JUDGING:
        if Permission.WORKORDERS_REVIEW in granted:
            return
        raise Forbidden(f"Only a reviewer (workorders:review) may {action} a work order.")
    if action == "supervise":
        if Permission.WORKORDERS_SUPERVISE in granted:
            return
        raise Forbidden("Only a leader (workorders:supervise) may supervise (督办) a work order.")
    raise Forbidden(f"Nobody may {action} a work order by hand.")  # create, escalate_level
