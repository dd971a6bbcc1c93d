"""HTTP API of duty: centers and members, rosters, swaps, check-in (报到), who is on duty, duty
alerts, routing and its preview."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, status
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.access import Permission
from riskwatch.common.auth import Principal, require
from riskwatch.common.catalog import Catalog
from riskwatch.common.deps import (
    AuditDep,
    CatalogDep,
    ReadSessionDep,
    SessionDep,
    settings_dependency,
)
from riskwatch.common.errors import Forbidden, NotFound, problem_responses
from riskwatch.common.events.base import Level
from riskwatch.common.inputs import Key, UtcDatetime
from riskwatch.common.pagination import DEFAULT_LIMIT, MAX_LIMIT
from riskwatch.notify.duty import notices, service
from riskwatch.notify.duty.domain import AlarmPlace, AlertKind, CenterKind
from riskwatch.notify.duty.models import DutyCenter, Roster, Shift
from riskwatch.notify.duty.rules import RuleIn
from riskwatch.notify.duty.schemas import (
    CheckInCreate,
    CheckInRead,
    DutyAlertPage,
    DutyAlertRead,
    DutyCenterCreate,
    DutyCenterPage,
    DutyCenterRead,
    DutyCenterUpdate,
    MemberPut,
    MemberRead,
    OnDutyPersonRead,
    OnDutyRead,
    PreviewCenter,
    PreviewPerson,
    RosterDetail,
    RosterDraft,
    RosterList,
    RosterProblemRead,
    RosterRead,
    RosterShiftRead,
    RoutingPreview,
    RoutingPut,
    RoutingRead,
    RoutingVersions,
    ShiftRead,
    SwapCreate,
    SwapDecision,
    SwapRead,
)
from riskwatch.notify.settings import NotifySettings

router = APIRouter(tags=["duty"])

Reader = Annotated[Principal, Depends(require(Permission.DUTY_READ))]
Actor = Annotated[Principal, Depends(require(Permission.DUTY_ACT))]
Manager = Annotated[Principal, Depends(require(Permission.DUTY_MANAGE))]
Settings = Annotated[NotifySettings, Depends(settings_dependency("notify", NotifySettings))]

CENTERS = "/api/v1/duty-centers"


def _district_only(caller: Principal) -> None:
    """Routing is managed district-wide; a center and its rosters by anyone whose scope holds
    the center (a sector's department head, their sector's center)."""
    if not caller.scope.is_district:
        raise Forbidden("Routing is managed by district-wide accounts.")


# -- centers ------------------------------------------------------------------------------------


@router.get(CENTERS, response_model=DutyCenterPage)
async def list_duty_centers(
    session: ReadSessionDep,
    caller: Reader,
    kind: CenterKind | None = None,
    sector_id: Key | None = None,
    town_id: Key | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> DutyCenterPage:
    items, next_cursor = await service.list_duty_centers(
        session,
        kind=kind.value if kind else None,
        sector_id=sector_id,
        town_id=town_id,
        cursor=cursor,
        limit=limit,
        scope=caller.scope,
    )
    return DutyCenterPage(
        items=[DutyCenterRead.model_validate(c) for c in items], next_cursor=next_cursor
    )


@router.post(
    CENTERS,
    response_model=DutyCenterRead,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(409, 422),
)
async def create_duty_center(
    body: DutyCenterCreate,
    session: SessionDep,
    caller: Manager,
    catalog: CatalogDep,
    settings: Settings,
    audit: AuditDep,
) -> DutyCenterRead:
    """A duty center: the district's (one), a sector's, or a street or town's; what it covers
    must exist in the catalog; one outside the caller's scope is refused (403). Its group
    robot's host must be among RW_ROBOT_ALLOWED_HOSTS (422); the answer shows the robot's kind
    and host only."""
    if not caller.scope.admits(sector_id=body.sector_id, town_id=body.town_id) or (
        body.kind is CenterKind.DISTRICT and not caller.scope.is_district
    ):
        raise Forbidden(f"A duty center covering that is outside your scope ({caller.scope}).")
    center = await service.create_duty_center(
        session,
        catalog=catalog,
        duty_center_id=body.duty_center_id,
        name=body.name,
        kind=body.kind,
        sector_id=body.sector_id,
        town_id=body.town_id,
        fallback_id=body.fallback_id,
        now=datetime.now(UTC),
        robot_url=body.robot_url,
        robot_hosts=settings.robot_allowed_hosts,
    )
    read = DutyCenterRead.model_validate(center)
    if audit is not None:
        audit.changed(None, read.model_dump(mode="json"))
    return read


@router.get(
    f"{CENTERS}/{{duty_center_id}}", response_model=DutyCenterRead, responses=problem_responses(404)
)
async def get_duty_center(
    duty_center_id: Key, session: ReadSessionDep, caller: Reader
) -> DutyCenterRead:
    center = await service.get_duty_center_or_raise(
        session, duty_center_id=duty_center_id, scope=caller.scope
    )
    return DutyCenterRead.model_validate(center)


@router.put(
    f"{CENTERS}/{{duty_center_id}}",
    response_model=DutyCenterRead,
    responses=problem_responses(404, 422),
)
async def update_duty_center(
    duty_center_id: Key,
    body: DutyCenterUpdate,
    session: SessionDep,
    caller: Manager,
    settings: Settings,
    audit: AuditDep,
) -> DutyCenterRead:
    """Rename a center, name its leader (a member), its fallback (the next level up) or its
    group robot (null: none)."""
    center = await service.get_duty_center_or_raise(
        session, duty_center_id=duty_center_id, for_update=True, scope=caller.scope
    )
    before = DutyCenterRead.model_validate(center).model_dump(mode="json")
    center = await service.update_duty_center(
        session,
        center=center,
        changes=body.model_dump(exclude_unset=True),
        now=datetime.now(UTC),
        robot_hosts=settings.robot_allowed_hosts,
    )
    read = DutyCenterRead.model_validate(center)
    if audit is not None:
        audit.changed(before, read.model_dump(mode="json"))
    return read


@router.delete(
    f"{CENTERS}/{{duty_center_id}}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404, 409),
)
async def delete_duty_center(
    duty_center_id: Key, session: SessionDep, caller: Manager, audit: AuditDep
) -> None:
    """Remove a center that never held duty (no rosters, no handovers), is not the district's
    and is no other center's fallback (409 otherwise); its memberships go with it."""
    center = await service.get_duty_center_or_raise(
        session, duty_center_id=duty_center_id, for_update=True, scope=caller.scope
    )
    before = DutyCenterRead.model_validate(center).model_dump(mode="json")
    await service.delete_duty_center(session, center=center, now=datetime.now(UTC))
    if audit is not None:
        audit.changed(before, None)


@router.get(
    f"{CENTERS}/{{duty_center_id}}/members",
    response_model=list[MemberRead],
    responses=problem_responses(404),
)
async def list_members(
    duty_center_id: Key, session: ReadSessionDep, caller: Reader
) -> list[MemberRead]:
    center = await service.get_duty_center_or_raise(
        session, duty_center_id=duty_center_id, scope=caller.scope
    )
    people = await service.list_members(session, duty_center_id=center.duty_center_id)
    return [MemberRead.model_validate(p) for p in people]


@router.put(
    f"{CENTERS}/{{duty_center_id}}/members/{{person_id}}",
    response_model=MemberRead,
    responses=problem_responses(404, 409, 422),
)
async def put_member(
    duty_center_id: Key,
    person_id: Key,
    body: MemberPut,
    session: SessionDep,
    caller: Manager,
    audit: AuditDep,
) -> MemberRead:
    """Add a member (by account username) or update how to reach them; a phone another person
    has is refused (409): SMS replies name their sender by it. `email` and `locale` are the
    person's in every center: not given, they stay as they are."""
    center = await service.get_duty_center_or_raise(
        session, duty_center_id=duty_center_id, scope=caller.scope
    )
    person = await service.put_member(
        session,
        center=center,
        person_id=person_id,
        name=body.name,
        phone=body.phone,
        now=datetime.now(UTC),
        email=body.email if "email" in body.model_fields_set else service.KEEP,
        locale=body.locale.value if "locale" in body.model_fields_set else service.KEEP,
    )
    read = MemberRead.model_validate(person)
    if audit is not None:
        audit.changed(None, {"duty_center_id": duty_center_id, **read.model_dump(mode="json")})
    return read


@router.delete(
    f"{CENTERS}/{{duty_center_id}}/members/{{person_id}}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404, 409),
)
async def remove_member(
    duty_center_id: Key, person_id: Key, session: SessionDep, caller: Manager, audit: AuditDep
) -> None:
    center = await service.get_duty_center_or_raise(
        session, duty_center_id=duty_center_id, scope=caller.scope
    )
    await service.remove_member(session, center=center, person_id=person_id, now=datetime.now(UTC))
    if audit is not None:
        audit.changed({"duty_center_id": duty_center_id, "person_id": person_id}, None)


# -- who is on duty -----------------------------------------------------------------------------


@router.get(
    f"{CENTERS}/{{duty_center_id}}/on-duty",
    response_model=OnDutyRead,
    responses=problem_responses(404),
)
async def get_on_duty(
    duty_center_id: Key,
    session: ReadSessionDep,
    caller: Reader,
    settings: Settings,
    at: UtcDatetime | None = None,
) -> OnDutyRead:
    """Who is on duty in this center now (or at `at`), their shift, whether and when they
    checked in, and how the center stands (attended, awaited, missed, unstaffed)."""
    center = await service.get_duty_center_or_raise(
        session, duty_center_id=duty_center_id, scope=caller.scope
    )
    when = at or datetime.now(UTC)
    staffing = (
        await service.staffing_at(
            session,
            duty_center_ids=[center.duty_center_id],
            at=when,
            grace=settings.check_in_grace,
        )
    )[center.duty_center_id]
    return OnDutyRead(
        duty_center_id=center.duty_center_id,
        at=when,
        attendance=staffing.attendance,
        people=[
            OnDutyPersonRead(
                person_id=p.person_id,
                name=p.name,
                phone=p.phone,
                shift=ShiftRead(
                    shift_id=p.shift.shift_id, starts_at=p.shift.starts_at, ends_at=p.shift.ends_at
                ),
                checked_in_at=staffing.checked_in.get(p.shift.shift_id),
            )
            for p in staffing.people
        ],
    )


# -- rosters ------------------------------------------------------------------------------------


async def _detail(session: AsyncSession, roster: Roster) -> RosterDetail:
    shifts = await service.roster_shifts(session, roster_id=roster.roster_id)
    problems = await service.roster_problems(session, roster=roster)
    return RosterDetail(
        **RosterRead.model_validate(roster).model_dump(),
        shifts=[RosterShiftRead.model_validate(s) for s in shifts],
        problems=[RosterProblemRead(**p) for p in service.problems_json(problems)],
    )


@router.get(
    f"{CENTERS}/{{duty_center_id}}/rosters",
    response_model=RosterList,
    responses=problem_responses(404),
)
async def list_rosters(
    duty_center_id: Key,
    session: ReadSessionDep,
    caller: Reader,
    roster_status: Annotated[
        str | None, Query(alias="status", pattern="^(draft|published)$")
    ] = None,
) -> RosterList:
    center = await service.get_duty_center_or_raise(
        session, duty_center_id=duty_center_id, scope=caller.scope
    )
    rosters = await service.list_rosters(
        session, duty_center_id=center.duty_center_id, status=roster_status
    )
    return RosterList(items=[RosterRead.model_validate(r) for r in rosters])


@router.post(
    f"{CENTERS}/{{duty_center_id}}/rosters",
    response_model=RosterDetail,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(404, 422),
)
async def draft_roster(
    duty_center_id: Key,
    body: RosterDraft,
    session: SessionDep,
    caller: Manager,
    catalog: CatalogDep,
    audit: AuditDep,
) -> RosterDetail:
    """Draft a roster: its shifts are laid out and checked (the problems are in the answer),
    not yet on duty until it is published."""
    center = await service.get_duty_center_or_raise(
        session, duty_center_id=duty_center_id, scope=caller.scope
    )
    roster = await _save_draft(session, center, None, body, caller, catalog)
    detail = await _detail(session, roster)
    if audit is not None:
        audit.changed(None, {"roster_id": roster.roster_id, "spec": roster.spec})
    return detail


def _zone(catalog: Catalog) -> ZoneInfo:
    return catalog.district.zone


async def _save_draft(
    session: AsyncSession,
    center: DutyCenter,
    roster: Roster | None,
    body: RosterDraft,
    caller: Principal,
    catalog: Catalog,
) -> Roster:
    return await service.save_draft(
        session,
        center=center,
        roster=roster,
        first_day=body.first_day,
        days=body.days,
        spec=body.to_spec(),
        allow_gaps=body.allow_gaps,
        by=caller.subject,
        now=datetime.now(UTC),
        tz=_zone(catalog),
    )


@router.get(
    "/api/v1/rosters/{roster_id}", response_model=RosterDetail, responses=problem_responses(404)
)
async def get_roster(roster_id: Key, session: ReadSessionDep, caller: Reader) -> RosterDetail:
    """A roster with its shifts and what stands between it and publication."""
    roster, _ = await service.get_roster_or_raise(session, roster_id=roster_id, scope=caller.scope)
    return await _detail(session, roster)


@router.put(
    "/api/v1/rosters/{roster_id}",
    response_model=RosterDetail,
    responses=problem_responses(404, 409, 422),
)
async def update_roster(
    roster_id: Key,
    body: RosterDraft,
    session: SessionDep,
    caller: Manager,
    catalog: CatalogDep,
    audit: AuditDep,
) -> RosterDetail:
    """Lay a draft out again; a published roster changes by swaps only (409)."""
    roster, center = await service.get_roster_or_raise(
        session, roster_id=roster_id, for_update=True, scope=caller.scope
    )
    before = dict(roster.spec)
    roster = await _save_draft(session, center, roster, body, caller, catalog)
    if audit is not None:
        audit.changed(before, roster.spec)
    return await _detail(session, roster)


@router.post(
    "/api/v1/rosters/{roster_id}/publish",
    response_model=RosterDetail,
    responses=problem_responses(404, 409),
)
async def publish_roster(
    roster_id: Key,
    session: SessionDep,
    caller: Manager,
    catalog: CatalogDep,
    audit: AuditDep,
) -> RosterDetail:
    """Publish: refused (409, every problem listed) while a gap, an overlap or someone on two
    centers at once remains; then its shifts are on duty and each person on it is told their
    shifts in the app and by SMS."""
    roster, center = await service.get_roster_or_raise(
        session, roster_id=roster_id, for_update=True, scope=caller.scope
    )
    if roster.status == "published":
        return await _detail(session, roster)
    now = datetime.now(UTC)
    publication = await service.publish_roster(
        session, roster=roster, center=center, by=caller.subject, now=now
    )
    await notices.notify_publication(
        session, publication=publication, center=center, tz=_zone(catalog), now=now
    )
    if audit is not None:
        audit.changed({"status": "draft"}, {"status": "published", "version": roster.version})
    return await _detail(session, roster)


# -- swaps --------------------------------------------------------------------------------------


@router.post(
    "/api/v1/swaps",
    response_model=SwapRead,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(403, 404, 409, 422),
)
async def request_swap(
    body: SwapCreate, session: SessionDep, caller: Actor, audit: AuditDep
) -> SwapRead:
    """Ask for a shift to go to another member (换班): by the person on it or the leader."""
    swap = await service.request_swap(
        session,
        shift_id=body.shift_id,
        to_person_id=body.to_person_id,
        reason=body.reason,
        by=caller.subject,
        now=datetime.now(UTC),
        scope=caller.scope,
    )
    read = SwapRead.model_validate(swap)
    if audit is not None:
        audit.changed(None, read.model_dump(mode="json"))
    return read


@router.post(
    "/api/v1/swaps/{swap_id}/decision",
    response_model=SwapRead,
    responses=problem_responses(403, 404, 409),
)
async def decide_swap(
    swap_id: Key,
    body: SwapDecision,
    session: SessionDep,
    caller: Actor,
    catalog: CatalogDep,
    audit: AuditDep,
) -> SwapRead:
    """The center's leader approves or rejects; an approved swap publishes the roster again
    and tells the people on it."""
    now = datetime.now(UTC)
    swap, publication = await service.decide_swap(
        session,
        swap_id=swap_id,
        approve=body.approve,
        by=caller.subject,
        may_manage=Permission.DUTY_MANAGE in caller.permissions,
        now=now,
        scope=caller.scope,
    )
    if publication is not None:
        center = await service.get_duty_center_or_raise(session, duty_center_id=swap.duty_center_id)
        await notices.notify_publication(
            session, publication=publication, center=center, tz=_zone(catalog), now=now
        )
    read = SwapRead.model_validate(swap)
    if audit is not None:
        audit.changed({"status": "requested"}, read.model_dump(mode="json"))
    return read


# -- check-in -----------------------------------------------------------------------------------


def check_in_read(shift: Shift) -> CheckInRead:
    if shift.checked_in_at is None:  # check_in sets it
        raise ValueError(f"shift {shift.shift_id} is not checked in")
    return CheckInRead(
        shift_id=shift.shift_id,
        duty_center_id=shift.duty_center_id,
        person_id=shift.person_id,
        starts_at=shift.starts_at,
        ends_at=shift.ends_at,
        checked_in_at=shift.checked_in_at,
        via=shift.checked_in_via or "api",
        late=bool(shift.checked_in_late),
    )


@router.post("/api/v1/duty/check-in", response_model=CheckInRead, responses=problem_responses(409))
async def check_in(
    body: CheckInCreate,
    session: SessionDep,
    caller: Actor,
    settings: Settings,
    audit: AuditDep,
) -> CheckInRead:
    """The caller reports for their shift now (or starting within 30 minutes) (报到). Twice
    answers the same check-in."""
    shift = await service.check_in(
        session,
        person_id=caller.subject,
        at=datetime.now(UTC),
        via="api",
        grace=settings.check_in_grace,
        duty_center_id=body.duty_center_id,
    )
    read = check_in_read(shift)
    if audit is not None:
        audit.changed(None, read.model_dump(mode="json"))
    return read


# -- duty alerts --------------------------------------------------------------------------------


@router.get("/api/v1/duty-alerts", response_model=DutyAlertPage)
async def list_duty_alerts(
    session: ReadSessionDep,
    caller: Reader,
    kind: AlertKind | None = None,
    duty_center_id: Key | None = None,
    open_only: Annotated[bool, Query(alias="open")] = False,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
) -> DutyAlertPage:
    """Missed check-ins, centers that had nobody on duty when an alarm came, alarms that
    reached nobody: newest first. District-wide accounts only."""
    if not caller.scope.is_district:
        raise NotFound("Duty alerts are listed for district-wide accounts.")
    items, next_cursor = await service.list_alerts(
        session,
        kind=kind.value if kind else None,
        duty_center_id=duty_center_id,
        open_only=open_only,
        cursor=cursor,
        limit=limit,
    )
    return DutyAlertPage(
        items=[DutyAlertRead.model_validate(a) for a in items], next_cursor=next_cursor
    )


# -- routing ------------------------------------------------------------------------------------


@router.get("/api/v1/routing", response_model=RoutingRead)
async def get_routing(session: ReadSessionDep, caller: Reader) -> RoutingRead:
    """The routing in force: which duty centers receive which alarms. Version 0 is the
    built-in default (street center, sector center, district center from orange up)."""
    version, rules = await service.current_routing(session)
    row = await service.routing_version(session, version=version) if version else None
    return RoutingRead(
        version=version,
        rules=[RuleIn.of(r) for r in rules],
        note=row.note if row else "built-in default",
        created_by=row.created_by if row else None,
        created_at=row.created_at if row else None,
    )


@router.get("/api/v1/routing/versions", response_model=RoutingVersions)
async def list_routing_versions(session: ReadSessionDep, caller: Reader) -> RoutingVersions:
    rows = await service.routing_versions(session)
    return RoutingVersions(
        items=[
            RoutingRead(
                version=r.version,
                rules=[RuleIn.model_validate(x) for x in r.rules],
                note=r.note,
                created_by=r.created_by,
                created_at=r.created_at,
            )
            for r in rows
        ]
    )


@router.put("/api/v1/routing", response_model=RoutingRead, responses=problem_responses(422))
async def put_routing(
    body: RoutingPut, session: SessionDep, caller: Manager, audit: AuditDep
) -> RoutingRead:
    """A new version of the routing; the first rule that matches an alarm decides."""
    _district_only(caller)
    before, _ = await service.current_routing(session)
    row = await service.put_routing(
        session,
        rules=[r.to_domain() for r in body.rules],
        note=body.note,
        by=caller.subject,
        now=datetime.now(UTC),
    )
    if audit is not None:
        audit.changed({"version": before}, {"version": row.version, "rules": row.rules})
    return RoutingRead(
        version=row.version,
        rules=body.rules,
        note=row.note,
        created_by=row.created_by,
        created_at=row.created_at,
    )


@router.get(
    "/api/v1/routing/preview", response_model=RoutingPreview, responses=problem_responses(404)
)
async def preview_routing(
    session: ReadSessionDep,
    caller: Reader,
    settings: Settings,
    catalog: CatalogDep,
    sector_id: Key,
    level: Level,
    scenario_id: Key | None = None,
    town_id: Key | None = None,
    at: UtcDatetime | None = None,
) -> RoutingPreview:
    """Who would be notified now (or at `at`) for an alarm of a device at this place and level,
    and why: each center with the rule or fallback that put it there, its attendance, and its
    people on duty."""
    if sector_id not in {s.id for s in catalog.sectors}:
        raise NotFound(f"No sector {sector_id!r} in the catalog.")
    when = at or datetime.now(UTC)
    decision = await service.route_alarm(
        session,
        place=AlarmPlace(sector_id, scenario_id, town_id),
        level=level,
        at=when,
        grace=settings.check_in_grace,
    )
    centers = [
        PreviewCenter(
            duty_center_id=r.center.duty_center_id,
            reason=r.reason,
            fallback_for=r.fallback_for,
            attendance=decision.staffing[r.center.duty_center_id].attendance,
            people=[
                PreviewPerson(
                    person_id=p.person_id,
                    name=p.name,
                    phone=p.phone,
                    checked_in_at=decision.staffing[r.center.duty_center_id].checked_in.get(
                        p.shift.shift_id
                    ),
                )
                for p in decision.people_at(r.center.duty_center_id)
            ],
        )
        for r in decision.routed
    ]
    people = {p.person_id for c in centers for p in c.people}
    return RoutingPreview(
        at=when,
        routing_version=decision.version,
        level=level,
        sector_id=sector_id,
        scenario_id=scenario_id,
        town_id=town_id,
        centers=centers,
        people_notified=len(people),
        reaches_nobody=not people,
    )
