"""Pure rules of the notices about work orders: which event tells whom, under which template,
once. No I/O, no framework imports.

Who hears what (issue 10): a dispatch, transfer or reopening goes to the assignee, or with none
to the people on duty at the responsible unit; a stage limit near to both; a stage limit passed
to both and the supervisors (the unit's leader, the sector's department heads); the medium
loop to the sector's department heads, the big loop to the district center (on duty and its
leader); the weekly bulletin to every department head. None of it is escalated: the order's
own stage limits are its escalation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from riskwatch.common.events.base import EventPayload
from riskwatch.common.events.workorders import (
    Stage,
    WorkOrderDeadlineApproaching,
    WorkOrderOverdue,
    WorkOrderSnapshot,
    WorkOrderStateChanged,
)
from riskwatch.notify.notifications.domain import CHANNELS, ChannelKind
from riskwatch.notify.templates.domain import TemplateKey


class Audience(StrEnum):
    ASSIGNEE = "assignee"  # the person the order is dispatched to
    # The people on duty now at the responsible unit, and at its fallbacks while it has nobody
    # on duty or nobody checked in (as for alarms: never nobody).
    UNIT_ON_DUTY = "unit_on_duty"
    UNIT_LEADER = "unit_leader"  # the leader of the unit's duty center
    DEPARTMENT_HEADS = "department_heads"  # department_head accounts over the order's sector
    DISTRICT_ON_DUTY = "district_on_duty"  # the district center (the emergency bureau)
    DISTRICT_LEADER = "district_leader"  # the district center's leader
    ALL_DEPARTMENT_HEADS = "all_department_heads"  # every department_head account


# Moves of an order that put it in someone's hands.
HANDED_OVER = frozenset({"dispatch", "transfer", "reopen"})
# Supervisors told of an overdue stage go through the storm caps (ADR 0018): when many orders
# pass a limit at once, what a cap holds back is counted in the person's digest, and every
# notice stays in the app. The assignee and the unit's people on duty, who must act, are never
# held back, nor are the rare moves people make (dispatch, tier) or the weekly bulletin.
CAPPED = frozenset({Audience.UNIT_LEADER, Audience.DEPARTMENT_HEADS})


@dataclass(frozen=True, slots=True)
class NoticePlan:
    """What one work-order event sends: the template, to whom (in order: the first audience a
    person is found in is theirs), which of them the storm caps apply to, and the occasion
    that makes every key (one notice per occasion, person and channel)."""

    key: TemplateKey
    audiences: tuple[Audience, ...]
    occasion: str
    action: str | None
    stage: Stage | None
    due: datetime | None
    at: datetime  # when it happened: what "time left" counts from
    actor: str | None = None  # who made the move: not told of their own action
    capped: frozenset[Audience] = frozenset()
    channels: tuple[ChannelKind, ...] = CHANNELS


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def occasion(order_id: str, kind: str, what: str, at: datetime) -> str:
    """workorder:<id>:<kind>:<stage or action or tier>:<limit or time of the move>."""
    return f"workorder:{order_id}:{kind}:{what}:{_stamp(at)}"


def plan_notice(data: EventPayload) -> NoticePlan | None:
    """The notice a work-order event sends, or None (a move nobody is told of)."""
    if isinstance(data, WorkOrderStateChanged):
        return _plan_move(data)
    if isinstance(data, WorkOrderDeadlineApproaching):
        return NoticePlan(
            key=TemplateKey.WORK_ORDER_DUE,
            audiences=(Audience.ASSIGNEE, Audience.UNIT_ON_DUTY),
            occasion=occasion(data.work_order.work_order_id, "due", data.stage, data.stage_due_at),
            action=None,
            stage=data.stage,
            due=data.stage_due_at,
            at=data.reminded_at,
        )
    if isinstance(data, WorkOrderOverdue):
        return NoticePlan(
            key=TemplateKey.WORK_ORDER_OVERDUE,
            audiences=(
                Audience.ASSIGNEE,
                Audience.UNIT_ON_DUTY,
                Audience.UNIT_LEADER,
                Audience.DEPARTMENT_HEADS,
            ),
            occasion=occasion(
                data.work_order.work_order_id, "overdue", data.stage, data.stage_due_at
            ),
            action=None,
            stage=data.stage,
            due=data.stage_due_at,
            at=data.overdue_at,
            capped=CAPPED,
        )
    return None


# Who the history names for the command manual's own dispatch (workorder's SYSTEM_ACTOR).
SYSTEM = "system"


def _plan_move(data: WorkOrderStateChanged) -> NoticePlan | None:
    order = data.work_order
    if data.action in HANDED_OVER:
        # An alarm's order dispatched by the manual as it opens: the unit's people on duty have
        # the alarm's own notice by SMS already (its escalation's first step); the order is in
        # their app, one SMS per alarm is enough.
        automatic = data.actor == SYSTEM and order.origin == "alarm" and data.action == "dispatch"
        return NoticePlan(
            key=TemplateKey.WORK_ORDER,
            audiences=(Audience.ASSIGNEE,) if order.assignee else (Audience.UNIT_ON_DUTY,),
            occasion=occasion(order.work_order_id, "handed", data.action, data.changed_at),
            action=data.action,
            stage=order.stage,
            due=order.stage_due_at,
            at=data.changed_at,
            actor=data.actor,
            channels=(ChannelKind.IN_APP,) if automatic else CHANNELS,
        )
    if data.action == "escalate_tier" and order.tier != "small":
        audiences = (
            (Audience.DEPARTMENT_HEADS,)
            if order.tier == "medium"
            else (Audience.DISTRICT_ON_DUTY, Audience.DISTRICT_LEADER)
        )
        return NoticePlan(
            key=TemplateKey.WORK_ORDER_TIER,
            audiences=audiences,
            occasion=occasion(order.work_order_id, "tier", order.tier, data.changed_at),
            action=data.action,
            stage=order.stage,
            due=order.stage_due_at,
            at=data.changed_at,
            actor=data.actor,
        )
    return None


def bulletin_occasion(bulletin_id: str) -> str:
    return f"bulletin:{bulletin_id}"


def to_me(order: WorkOrderSnapshot, person_id: str) -> bool:
    return order.assignee is not None and order.assignee == person_id
