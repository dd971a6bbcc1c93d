"""Stopping an alarm's escalation, the one I/O shape every stop shares: load the row locked,
apply the pure transition (escalation.domain: acknowledge, accept, clear), keep who answered.
Here rather than in service.py so that notifications.service (acknowledgement) can call it:
escalation.service imports notifications.service."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.notify.escalation.domain import EscalationState
from riskwatch.notify.escalation.models import Escalation


async def stop_escalation(
    session: AsyncSession,
    *,
    alarm_id: str,
    transition: Callable[[EscalationState], EscalationState],
    now: datetime,
    answered: tuple[datetime, str, str | None] | None = None,
) -> None:
    """Apply `transition` to the alarm's escalation, if it has one; `answered` (when, by whom,
    via which channel) is kept when the transition stops it. A stopped escalation stays as it
    is (the transitions return it unchanged)."""
    row = await session.get(Escalation, alarm_id, with_for_update=True)
    if row is None:
        return
    state = row.state()
    stopped = transition(state)
    if stopped is state:
        return
    if answered is not None:
        row.acknowledged_at, row.acknowledged_by, row.acknowledged_via = answered
    row.apply(stopped, now=now)
    await session.flush()
