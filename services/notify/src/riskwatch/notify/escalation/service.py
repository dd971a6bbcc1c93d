"""Use cases of escalation: start an alarm's escalation, fire the steps that are due (whom each
step targets, on which channels), stop it when the alarm clears; the policies' versions.
Callers own the transaction; notifications are inserted in it."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import any_, literal, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.access import Role
from riskwatch.common.errors import Invalid
from riskwatch.common.events.alarms import AlarmSnapshot
from riskwatch.common.events.base import Level
from riskwatch.common.events.duty import DISTRICT_CENTER_ID, sector_center_id, street_center_id
from riskwatch.common.retry import is_transient
from riskwatch.notify.duty import service as duty_service
from riskwatch.notify.duty.domain import AlarmPlace, AlertKind, Attendance
from riskwatch.notify.duty.models import DutyCenter, Person
from riskwatch.notify.escalation import domain
from riskwatch.notify.escalation.domain import (
    DEFAULT_POLICIES,
    EscalationStatus,
    Over,
    Policy,
    Step,
    TargetKind,
)
from riskwatch.notify.escalation.models import Escalation, EscalationPolicyVersion
from riskwatch.notify.escalation.store import stop_escalation
from riskwatch.notify.models import SCHEMA, principals
from riskwatch.notify.notifications.domain import (
    ChannelKind,
    Recipient,
    Status,
    Topic,
    plan_step,
    robot_person_id,
)
from riskwatch.notify.notifications.service import insert_notifications
from riskwatch.notify.notifications.storm import StormCaps
from riskwatch.notify.templates.domain import Locale, TemplateKey, Templates, alarm_variables
from riskwatch.notify.templates.service import load_templates

log = structlog.get_logger(__name__)

# A step that failed for a reason of its own is tried again this much later.
STEP_RETRY = timedelta(minutes=1)


# -- policies -----------------------------------------------------------------------------------


async def current_policies(session: AsyncSession) -> tuple[int, dict[Level, Policy]]:
    """The policies in force: the highest version, or version 0, the built-in defaults."""
    row = await session.scalar(
        select(EscalationPolicyVersion).order_by(EscalationPolicyVersion.version.desc()).limit(1)
    )
    if row is None:
        return 0, dict(DEFAULT_POLICIES)
    return row.version, domain.policies_from_json(row.policies)


async def policies_of_version(session: AsyncSession, *, version: int) -> dict[Level, Policy]:
    """The policies of `version`; a running escalation keeps the version it started with."""
    if version == 0:
        return dict(DEFAULT_POLICIES)
    row = await session.get(EscalationPolicyVersion, version)
    if row is None:  # never deleted; only if someone removed the row by hand
        return dict(DEFAULT_POLICIES)
    return domain.policies_from_json(row.policies)


async def policy_versions(session: AsyncSession) -> list[EscalationPolicyVersion]:
    return list(
        await session.scalars(
            select(EscalationPolicyVersion)
            .order_by(EscalationPolicyVersion.version.desc())
            .limit(200)
        )
    )


async def put_policies(
    session: AsyncSession, *, policies: Mapping[Level, Policy], by: str, now: datetime
) -> EscalationPolicyVersion:
    """A new version of the policies (levels not given keep their current policy); escalations
    already running finish on the version they started with. 422 listing every problem."""
    problems = [
        f"{level.value}: {problem}"
        for level, policy in policies.items()
        for problem in domain.validate(policy)
    ]
    if problems:
        raise Invalid("The escalation policies cannot run: " + "; ".join(problems) + ".")
    await session.execute(
        text(
            f"LOCK TABLE {SCHEMA}.{EscalationPolicyVersion.__tablename__}"
            " IN SHARE ROW EXCLUSIVE MODE"
        )
    )
    latest, current = await current_policies(session)
    row = EscalationPolicyVersion(
        version=latest + 1,
        policies=domain.policies_to_json({**current, **policies}),
        created_at=now,
        created_by=by,
    )
    session.add(row)
    await session.flush()
    return row


# -- escalations --------------------------------------------------------------------------------


async def start_escalation(
    session: AsyncSession,
    *,
    alarm: AlarmSnapshot,
    place: str | None,
    traceparent: str | None,
    now: datetime,
    grace: timedelta,
    caps: StormCaps,
) -> list[Plan]:
    """The alarm's escalation at its level: a new one, or a restart with the higher level's
    policy; its first step fires now (what it did is returned). The same level again changes
    nothing (a redelivered event)."""
    row = await session.get(Escalation, alarm.alarm_id, with_for_update=True)
    if row is not None and Level(row.level).rank >= alarm.level.rank:
        return []
    version, policies = await current_policies(session)
    state = domain.start(policies[alarm.level], now=now)
    snapshot = alarm.model_dump(mode="json")
    if row is None:
        row = Escalation(
            alarm_id=alarm.alarm_id,
            level=alarm.level.value,
            policy_version=version,
            alarm=snapshot,
            place=place,
            traceparent=traceparent,
            status=state.status.value,
            next_step=state.next_step,
            round=state.round,
            next_step_at=state.next_step_at,
            started_at=state.started_at,
            updated_at=now,
        )
        session.add(row)
    else:
        row.level = alarm.level.value
        row.policy_version = version
        row.alarm = snapshot
        row.place = place
        row.traceparent = traceparent
        row.acknowledged_at = row.acknowledged_by = row.acknowledged_via = None
        row.stopped_at = None
        row.apply(state, now=now)
    await session.flush()
    return await advance(
        session, row=row, policy=policies[alarm.level], now=now, grace=grace, caps=caps
    )


async def advance(
    session: AsyncSession,
    *,
    row: Escalation,
    policy: Policy,
    now: datetime,
    grace: timedelta,
    caps: StormCaps,
) -> list[Plan]:
    """Fire every step of the escalation due by `now` and keep where it stands, in the
    caller's transaction: the step and its notifications commit together or not at all."""
    result = domain.fire_due(row.state(), policy, now=now)
    plans: list[Plan] = []
    if result.fired:
        alarm = AlarmSnapshot.model_validate(row.alarm)
        templates = await load_templates(session)
        for fired in result.fired:
            plan = await fire_step(
                session,
                alarm=alarm,
                place=row.place,
                traceparent=row.traceparent,
                step=policy.steps[fired.step],
                step_index=fired.step,
                round_=fired.round,
                templates=templates,
                now=now,
                grace=grace,
                caps=caps,
            )
            plans.append(plan)
    row.apply(result.state, now=now)
    await session.flush()
    return plans


async def advance_one(
    session: AsyncSession, *, now: datetime, grace: timedelta, caps: StormCaps
) -> bool:
    """Fire the due steps of the escalation whose timer ran out first, if any; one that another
    escalator holds is skipped (SKIP LOCKED). Whether one moved.

    One escalation per transaction, so the storm-control locks its notices take are all taken
    in one sorted call and held briefly. A failure of the infrastructure (a deadlock, a lost
    connection) is raised: the transaction rolls back and the next pass tries again. Any other
    failure of a step puts it off by a minute, logged, so one bad escalation holds up none."""
    row = await session.scalar(
        select(Escalation)
        .where(Escalation.status == EscalationStatus.ACTIVE.value, Escalation.next_step_at <= now)
        .order_by(Escalation.next_step_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if row is None:
        return False
    policies = await policies_of_version(session, version=row.policy_version)
    try:
        async with session.begin_nested():
            await advance(
                session,
                row=row,
                policy=policies[Level(row.level)],
                now=now,
                grace=grace,
                caps=caps,
            )
    except Exception as exc:
        if is_transient(exc):
            raise
        log.exception("escalation_step_failed", alarm_id=row.alarm_id, step=row.next_step)
        row.next_step_at = now + STEP_RETRY
        await session.flush()
    return True


async def advance_due(
    session: AsyncSession, *, now: datetime, limit: int, grace: timedelta, caps: StormCaps
) -> int:
    """`advance_one` up to `limit` times in the caller's transaction; how many moved (tests
    and a caller that wants one transaction; the escalator commits each)."""
    moved = 0
    while moved < limit and await advance_one(session, now=now, grace=grace, caps=caps):
        moved += 1
    return moved


async def accept_escalation(
    session: AsyncSession, *, alarm_id: str, by: str, at: datetime, now: datetime
) -> None:
    """The alarm's work order was accepted (接单) by `by`: no further step; who and when are
    kept as the escalation's answer."""
    await stop_escalation(
        session, alarm_id=alarm_id, transition=domain.accept, now=now, answered=(at, by, None)
    )


async def clear_escalation(session: AsyncSession, *, alarm_id: str, now: datetime) -> None:
    """The alarm is over: no further step. (An acknowledgement stops it in
    notifications.service.acknowledge_notification.)"""
    await stop_escalation(session, alarm_id=alarm_id, transition=domain.clear, now=now)


# -- one step -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    """What one step did: the centers routing chose (fallbacks included), those with nobody on
    duty or nobody checked in, the people and robots it targeted, and the notifications it
    created (none for what already existed)."""

    duty_center_ids: list[str]
    uncovered: dict[str, str]
    recipients: list[str]
    created: list[str]


async def fire_step(
    session: AsyncSession,
    *,
    alarm: AlarmSnapshot,
    place: str | None,
    traceparent: str | None,
    step: Step,
    step_index: int,
    round_: int,
    templates: Templates,
    now: datetime,
    grace: timedelta,
    caps: StormCaps,
) -> Plan:
    """Pending notifications for the step's targets on its channels, rendered in each
    person's language. Routing is asked again at every step, so a reminder goes to whoever is on
    duty now. The first step also keeps the promise of never nobody: a routed center left empty
    raises a duty alert, and an alarm that reaches no person at all raises one too."""
    device = alarm.device
    decision = await duty_service.route_alarm(
        session,
        place=AlarmPlace(device.sector_id, device.scenario_id, device.town_id),
        level=alarm.level,
        at=now,
        grace=grace,
    )
    first = step_index == 0 and round_ == 0
    center_ids = [r.center.duty_center_id for r in decision.routed]
    if first:
        for center_id, why in decision.uncovered.items():
            if decision.staffing[center_id].attendance is not Attendance.UNSTAFFED:
                continue  # nobody checked in: the missed check-in is its alert (the watch's)
            await duty_service.raise_alert(
                session,
                kind=AlertKind.NOBODY_ON_DUTY,
                duty_center_id=center_id,
                dedupe_key=f"{AlertKind.NOBODY_ON_DUTY.value}:{center_id}:open",
                alarm_id=alarm.alarm_id,
                detail=f"{why}; alarm {alarm.alarm_id} ({alarm.level.value}) went to its fallback",
                now=now,
            )
    recipients = await _recipients(session, step=step, alarm=alarm, decision=decision)
    planned = plan_step(
        alarm.alarm_id,
        alarm.level.value,
        step=step_index,
        round_=round_,
        recipients=recipients,
        channels=step.channels,
    )
    if first and not any(p.channel is not ChannelKind.WEBHOOK for p in planned):
        await duty_service.raise_alert(
            session,
            kind=AlertKind.UNREACHED_ALARM,
            duty_center_id=center_ids[0] if center_ids else None,
            dedupe_key=f"{AlertKind.UNREACHED_ALARM.value}:{alarm.alarm_id}:{alarm.level.value}",
            alarm_id=alarm.alarm_id,
            detail=(
                f"alarm {alarm.alarm_id} ({alarm.level.value}, sector {device.sector_id}, "
                f"town {device.town_id}) reached nobody: "
                + (
                    f"nobody on duty at {', '.join(center_ids)}"
                    if center_ids
                    else "no duty center is routed for it"
                )
            ),
            now=now,
        )
    rows: list[dict[str, object]] = []
    for p in planned:
        rendered = templates.render(
            TemplateKey.ALARM,
            p.channel,
            p.locale or "",
            alarm_variables(
                alarm, place=place, step=step_index, channel=p.channel, locale=p.locale or ""
            ),
        )
        rows.append(
            {
                "notification_id": str(uuid.uuid4()),
                "topic": Topic.ALARM.value,
                "alarm_id": alarm.alarm_id,
                "sector_id": device.sector_id,
                "town_id": device.town_id,
                "village_id": device.village_id,
                "level": alarm.level.value,
                "duty_center_id": p.duty_center_id,
                "person_id": p.person_id,
                "channel": p.channel.value,
                "recipient": p.recipient,
                "message": rendered.text,
                "subject": rendered.subject,
                "template_id": rendered.provider_template_id,
                "params": dict(rendered.params) or None,
                "locale": p.locale or Locale.ZH_CN.value,
                "step": step_index,
                "round": round_,
                "status": Status.PENDING.value,
                "idempotency_key": p.idempotency_key,
                "attempts": 0,
                "next_attempt_at": now,
                "alarm_received_at": alarm.received_at,
                "traceparent": traceparent,
                "created_at": now,
            }
        )
    created = await insert_notifications(session, rows, now=now, caps=caps)
    log.info(
        "escalation_step_fired",
        alarm_id=alarm.alarm_id,
        alarm_level=alarm.level.value,
        step=step_index,
        round=round_,
        duty_centers=center_ids,
        uncovered=sorted(decision.uncovered),
        created=len(created),
        planned=len(planned),
    )
    return Plan(
        center_ids,
        dict(decision.uncovered),
        [r.person_id for r in recipients],
        created,
    )


async def _recipients(
    session: AsyncSession,
    *,
    step: Step,
    alarm: AlarmSnapshot,
    decision: duty_service.RouteDecision,
) -> list[Recipient]:
    """The step's targets as people (and robots) to notify, in the order of its targets and,
    within one, of the routed centers."""
    device = alarm.device
    routed = [r.center.duty_center_id for r in decision.routed]
    centers: dict[str, DutyCenter] = {}
    needs_centers = any(t.kind in (TargetKind.LEADER, TargetKind.ROBOT) for t in step.targets)
    if needs_centers and routed:
        centers = {
            c.duty_center_id: c
            for c in await session.scalars(
                select(DutyCenter).where(DutyCenter.duty_center_id.in_(routed))
            )
        }
    # Accounts named by role or leadership: who they are is the account; how to reach them is
    # their person record, when they have one (else the app only).
    wanted: list[tuple[str, str]] = []  # (center, person)
    out: list[Recipient] = []
    for target in step.targets:
        match target.kind:
            case TargetKind.ON_DUTY:
                for center_id in routed:
                    out.extend(
                        Recipient(center_id, p.person_id, p.phone, p.email, p.locale)
                        for p in decision.people_at(center_id)
                    )
            case TargetKind.ROBOT:
                for center_id in routed:
                    url = centers[center_id].robot_url if center_id in centers else None
                    if url:
                        out.append(Recipient(center_id, robot_person_id(center_id), robot_url=url))
            case TargetKind.LEADER:
                for center_id in routed:
                    leader = centers[center_id].leader_id if center_id in centers else None
                    if leader:
                        wanted.append((center_id, leader))
                        out.append(Recipient(center_id, leader))
            case TargetKind.DEPARTMENT_HEAD:
                scope = f"sector:{device.sector_id}"
                for username in await role_holders(session, Role.DEPARTMENT_HEAD, scope):
                    center = sector_center_id(device.sector_id)
                    wanted.append((center, username))
                    out.append(Recipient(center, username))
            case TargetKind.DISTRICT_LEADER:
                for username in await role_holders(session, Role.LEADER, "district"):
                    wanted.append((DISTRICT_CENTER_ID, username))
                    out.append(Recipient(DISTRICT_CENTER_ID, username))
            case TargetKind.ROLE:
                if target.role is None or target.over is None:
                    continue
                found = _scope_over(target.over, alarm)
                if found is None:
                    continue
                scope, center = found
                for username in await role_holders(session, target.role, scope):
                    wanted.append((center, username))
                    out.append(Recipient(center, username))
    if not wanted:
        return out
    people = {
        p.person_id: p
        for p in await session.scalars(
            select(Person).where(Person.person_id.in_({person for _, person in wanted}))
        )
    }
    return [
        r
        if r.robot_url is not None or r.phone is not None or r.person_id not in people
        else Recipient(
            r.duty_center_id,
            r.person_id,
            people[r.person_id].phone,
            people[r.person_id].email,
            people[r.person_id].locale,
        )
        for r in out
    ]


def _scope_over(over: Over, alarm: AlarmSnapshot) -> tuple[str, str] | None:
    """The org scope of that kind holding the alarm, and the duty center that answers for it."""
    device = alarm.device
    match over:
        case Over.DISTRICT:
            return "district", DISTRICT_CENTER_ID
        case Over.SECTOR:
            return f"sector:{device.sector_id}", sector_center_id(device.sector_id)
        case Over.TOWN:
            if device.town_id is None:
                return None
            return f"town:{device.town_id}", street_center_id(device.town_id)


async def role_holders(session: AsyncSession, role: Role, scope: str) -> Sequence[str]:
    """Usernames of the enabled accounts holding `role` over exactly `scope`, sorted."""
    t = principals.table
    return list(
        await session.scalars(
            select(t.c.username)
            .where(
                literal(role.value) == any_(t.c.roles),
                t.c.scope == scope,
                t.c.disabled.is_(False),
            )
            .order_by(t.c.username)
        )
    )
