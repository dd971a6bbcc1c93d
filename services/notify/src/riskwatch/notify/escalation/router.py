"""HTTP API of escalation: the policies (versions; district-wide accounts edit them) and an
alarm's escalation with its schedule."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends

from riskwatch.common.access import Permission
from riskwatch.common.auth import Principal, require
from riskwatch.common.deps import AuditDep, ReadSessionDep, SessionDep
from riskwatch.common.errors import Forbidden, NotFound, problem_responses
from riskwatch.common.events.base import Level
from riskwatch.common.inputs import Key
from riskwatch.notify.escalation import domain, service
from riskwatch.notify.escalation.models import Escalation, EscalationPolicyVersion
from riskwatch.notify.escalation.schemas import (
    EscalationRead,
    PoliciesPut,
    PoliciesRead,
    PolicyIn,
    PolicyVersions,
    ScheduledStep,
)
from riskwatch.notify.notifications.domain import AckVia

router = APIRouter(tags=["escalation"])

Reader = Annotated[Principal, Depends(require(Permission.DUTY_READ))]
Manager = Annotated[Principal, Depends(require(Permission.DUTY_MANAGE))]
AlarmReader = Annotated[Principal, Depends(require(Permission.NOTIFICATIONS_READ))]

POLICIES = "/api/v1/escalation-policies"


def _read(
    version: int, policies: dict[Level, domain.Policy], row: EscalationPolicyVersion | None
) -> PoliciesRead:
    return PoliciesRead(
        version=version,
        policies={level: PolicyIn.of(policies[level]) for level in Level},
        created_by=row.created_by if row else None,
        created_at=row.created_at if row else None,
    )


@router.get(POLICIES, response_model=PoliciesRead)
async def get_policies(session: ReadSessionDep, caller: Reader) -> PoliciesRead:
    """The escalation policies in force, by level. Version 0 is the built-in default."""
    version, policies = await service.current_policies(session)
    row = await session.get(EscalationPolicyVersion, version) if version else None
    return _read(version, policies, row)


@router.get(f"{POLICIES}/versions", response_model=PolicyVersions)
async def list_policy_versions(session: ReadSessionDep, caller: Reader) -> PolicyVersions:
    """Every edited version, newest first; running escalations keep the version they began
    with."""
    rows = await service.policy_versions(session)
    return PolicyVersions(
        items=[_read(r.version, domain.policies_from_json(r.policies), r) for r in rows]
    )


@router.put(POLICIES, response_model=PoliciesRead, responses=problem_responses(403, 422))
async def put_policies(
    body: PoliciesPut, session: SessionDep, caller: Manager, audit: AuditDep
) -> PoliciesRead:
    """A new version of the policies: ordered steps (wait from the start, targets, channels)
    and a bounded repeat. 422 lists what cannot run (steps out of order, rounds that would
    overlap, a robot target without the webhook channel, ...)."""
    if not caller.scope.is_district:
        raise Forbidden("Escalation policies are managed by district-wide accounts.")
    before, _ = await service.current_policies(session)
    row = await service.put_policies(
        session,
        policies={level: p.to_domain() for level, p in body.policies.items()},
        by=caller.subject,
        now=datetime.now(UTC),
    )
    if audit is not None:
        audit.changed({"version": before}, {"version": row.version, "policies": row.policies})
    return _read(row.version, domain.policies_from_json(row.policies), row)


@router.get("/api/v1/escalations/{alarm_id}", response_model=EscalationRead)
async def get_escalation(
    alarm_id: Key, session: ReadSessionDep, caller: AlarmReader
) -> EscalationRead:
    """An alarm's escalation: its status, who acknowledged and how, and its schedule (each
    step and round, when due, whether fired)."""
    row = await session.get(Escalation, alarm_id)
    device = row.alarm["device"] if row is not None else {}
    if row is None or not caller.scope.admits(
        sector_id=device.get("sector_id"),
        town_id=device.get("town_id"),
        village_id=device.get("village_id"),
    ):
        raise NotFound(f"No escalation for alarm {alarm_id!r}.")
    policies = await service.policies_of_version(session, version=row.policy_version)
    policy = policies[Level(row.level)]
    state = row.state()
    schedule = domain.schedule(policy, row.started_at)
    # next_step and round keep pointing at the step it was waiting for when it stopped; an
    # exhausted escalation fired them all.
    position = {(f.step, f.round): i for i, f in enumerate(schedule)}
    fired_until = (
        len(schedule)
        if state.status is domain.EscalationStatus.EXHAUSTED
        else position.get((state.next_step, state.round), len(schedule))
    )
    return EscalationRead(
        alarm_id=row.alarm_id,
        level=Level(row.level),
        policy_version=row.policy_version,
        status=state.status,
        started_at=row.started_at,
        next_step=None if state.stopped else state.next_step,
        round=None if state.stopped else state.round,
        next_step_at=state.next_step_at,
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by,
        acknowledged_via=AckVia(row.acknowledged_via) if row.acknowledged_via else None,
        stopped_at=row.stopped_at,
        schedule=[
            ScheduledStep(step=f.step, round=f.round, due_at=f.due_at, fired=i < fired_until)
            for i, f in enumerate(schedule)
        ],
    )
