"""Tables of escalation: the policies (immutable versions, like the routing) and one durable
timer per alarm, the escalation, whose `next_step_at` a worker waits for."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, Integer, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from riskwatch.notify.escalation.domain import EscalationState, EscalationStatus
from riskwatch.notify.models import Base


class EscalationPolicyVersion(Base):
    """One version of the escalation policies of every level; the newest applies to alarms
    whose escalation starts after it. Version 0 is the built-in default and has no row."""

    __tablename__ = "escalation_policy"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    policies: Mapped[dict[str, Any]] = mapped_column(JSONB)  # level -> policy (domain.Policy)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64))


class Escalation(Base):
    """An alarm's walk through its level's policy: which step comes next and when, in which
    round of the repeats; stopped by an acknowledgement, the alarm clearing, or the end of the
    steps."""

    __tablename__ = "escalation"

    alarm_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    level: Mapped[str] = mapped_column(String(8))
    policy_version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # domain.EscalationStatus
    next_step: Mapped[int] = mapped_column(Integer)
    round: Mapped[int] = mapped_column(Integer)
    next_step_at: Mapped[datetime | None]
    started_at: Mapped[datetime]
    # The alarm as last heard of, and where it went (routing's centers, in order): each step
    # renders and routes from these without asking alerting.
    alarm: Mapped[dict[str, Any]] = mapped_column(JSONB)
    place: Mapped[str | None] = mapped_column(String(200))
    traceparent: Mapped[str | None] = mapped_column(String(64))
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))
    acknowledged_via: Mapped[str | None] = mapped_column(String(16))
    stopped_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]

    __table_args__ = (
        CheckConstraint(
            "status IN ('active', 'acknowledged', 'accepted', 'cleared', 'exhausted')",
            name="status",
        ),
        # What the escalation worker claims.
        Index("ix_escalation_due", "next_step_at", postgresql_where=text("status = 'active'")),
    )

    def state(self) -> EscalationState:
        return EscalationState(
            status=EscalationStatus(self.status),
            started_at=self.started_at,
            next_step=self.next_step,
            round=self.round,
            next_step_at=self.next_step_at,
        )

    def apply(self, state: EscalationState, *, now: datetime) -> None:
        """Keep `state`; `stopped_at` is when it stopped, the first time."""
        self.status = state.status.value
        self.started_at = state.started_at
        self.next_step = state.next_step
        self.round = state.round
        self.next_step_at = state.next_step_at
        if state.stopped and self.stopped_at is None:
            self.stopped_at = now
        self.updated_at = now
