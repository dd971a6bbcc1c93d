"""Use cases of duty: centers and members, rosters (draft, validate, publish, swap), check-in,
duty alerts, and routing. Callers own the transaction; every event is staged in the outbox in it.
The decisions are the pure functions of domain.py and rostering.py."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import Enum
from typing import Any, Literal
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import delete, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.access import DISTRICT, Scope
from riskwatch.common.catalog import Catalog
from riskwatch.common.errors import Conflict, Forbidden, Invalid, InvalidState, NotFound
from riskwatch.common.events import new_event
from riskwatch.common.events.base import Level
from riskwatch.common.events.duty import (
    DutyCenterChanged,
    DutyCheckedIn,
    RosterPublished,
    ShiftRef,
)
from riskwatch.common.events.topics import DUTY
from riskwatch.common.pagination import keyset, page_of
from riskwatch.notify.duty import rostering
from riskwatch.notify.duty.contacts import robot_host, robot_host_allowed
from riskwatch.notify.duty.domain import (
    CHECK_IN_EARLY,
    DEFAULT_RULES,
    AlarmPlace,
    AlertKind,
    Attendance,
    CenterKind,
    OnDutyPerson,
    Routed,
    RoutingRule,
    ShiftSpan,
    SwapAlreadyDecided,
    SwapStatus,
    attendance,
    on_duty,
    route,
    with_fallbacks,
)
from riskwatch.notify.duty.domain import check_in as check_in_to
from riskwatch.notify.duty.domain import decide_swap as decide_swap_status
from riskwatch.notify.duty.models import (
    DutyAlert,
    DutyCenter,
    DutyMember,
    Handover,
    Person,
    Roster,
    RoutingPolicy,
    Shift,
    SwapRequest,
)
from riskwatch.notify.duty.rules import rules_from_json, rules_to_json
from riskwatch.notify.models import SCHEMA, outbox

SOURCE = "/riskwatch/notify"
log = structlog.get_logger(__name__)


# -- centers and members ------------------------------------------------------------------------


async def get_duty_center_or_raise(
    session: AsyncSession, *, duty_center_id: str, scope: Scope = DISTRICT, for_update: bool = False
) -> DutyCenter:
    center = await session.get(DutyCenter, duty_center_id, with_for_update=for_update)
    if center is None or not scope.holds(center):
        raise NotFound(f"No duty center {duty_center_id!r}.")
    return center


async def list_duty_centers(
    session: AsyncSession,
    *,
    kind: str | None,
    sector_id: str | None,
    town_id: str | None,
    cursor: str | None,
    limit: int,
    scope: Scope = DISTRICT,
) -> tuple[list[DutyCenter], str | None]:
    stmt = select(DutyCenter).where(scope.on(DutyCenter))
    for column, value in (
        (DutyCenter.kind, kind),
        (DutyCenter.sector_id, sector_id),
        (DutyCenter.town_id, town_id),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    stmt = keyset(
        stmt, at=DutyCenter.created_at, id_=DutyCenter.duty_center_id, cursor=cursor, limit=limit
    )
    rows = (await session.scalars(stmt)).all()
    return page_of(rows, limit=limit, at="created_at", id_="duty_center_id")


def check_coverage(
    catalog: Catalog, *, kind: CenterKind, sector_id: str | None, town_id: str | None
) -> None:
    """What a center covers must fit its kind and exist in the catalog."""
    match kind:
        case CenterKind.DISTRICT:
            if sector_id is not None or town_id is not None:
                raise Invalid(
                    "A district center covers the whole district: no sector_id, no town_id."
                )
        case CenterKind.SECTOR:
            if sector_id is None or town_id is not None:
                raise Invalid("A sector center covers one sector: sector_id, no town_id.")
            if sector_id not in {s.id for s in catalog.sectors}:
                raise Invalid(f"No sector {sector_id!r} in the catalog.")
        case CenterKind.STREET:
            if town_id is None or sector_id is not None:
                raise Invalid("A street or town center covers one town: town_id, no sector_id.")
            if town_id not in {t.id for t in catalog.towns}:
                raise Invalid(f"No town {town_id!r} in the catalog.")


async def create_duty_center(
    session: AsyncSession,
    *,
    catalog: Catalog,
    duty_center_id: str,
    name: str,
    kind: CenterKind,
    sector_id: str | None,
    town_id: str | None,
    fallback_id: str | None,
    now: datetime,
    robot_url: str | None = None,
    robot_hosts: Collection[str] = (),
    announce: bool = True,
) -> DutyCenter:
    """A new center; its `robot_url` (checked in form by the API models) must name one of
    `robot_hosts` (RW_ROBOT_ALLOWED_HOSTS). With `announce`, DutyCenterChanged is staged (an
    import announces each center once, after its members and leader)."""
    check_coverage(catalog, kind=kind, sector_id=sector_id, town_id=town_id)
    if robot_url is not None:
        check_robot_host(robot_url, robot_hosts)
    if await session.get(DutyCenter, duty_center_id) is not None:
        raise Conflict(f"Duty center {duty_center_id!r} exists.")
    if kind is CenterKind.DISTRICT:
        existing = await session.scalar(
            select(DutyCenter.duty_center_id).where(DutyCenter.kind == CenterKind.DISTRICT.value)
        )
        if existing is not None:
            raise Conflict(f"The district already has its center, {existing!r}.")
    if fallback_id is not None:
        await _check_fallback(session, duty_center_id=duty_center_id, fallback_id=fallback_id)
    center = DutyCenter(
        duty_center_id=duty_center_id,
        name=name,
        kind=kind.value,
        sector_id=sector_id,
        town_id=town_id,
        fallback_id=fallback_id,
        robot_url=robot_url,
    )
    session.add(center)
    await session.flush()
    if announce:
        await announce_center(session, center=center, now=now)
    return center


async def _check_fallback(session: AsyncSession, *, duty_center_id: str, fallback_id: str) -> None:
    """The fallback exists, and following fallbacks from it never comes back here."""
    seen = {duty_center_id}
    current: str | None = fallback_id
    while current is not None:
        if current in seen:
            raise Invalid(f"Fallback {fallback_id!r} would make a loop back to {duty_center_id!r}.")
        seen.add(current)
        center = await session.get(DutyCenter, current)
        if center is None:
            raise Invalid(f"No duty center {current!r} to fall back to.")
        current = center.fallback_id


def check_robot_host(robot_url: str, robot_hosts: Collection[str]) -> None:
    """Refused at once rather than at the first alarm: the robot channel posts only to these
    hosts (RW_ROBOT_ALLOWED_HOSTS)."""
    if not robot_host_allowed(robot_url, robot_hosts):
        allowed = ", ".join(sorted(robot_hosts)) or "none"
        raise Invalid(
            f"The robot's host {robot_host(robot_url)!r} is not among RW_ROBOT_ALLOWED_HOSTS "
            f"({allowed}); notify would not post to it."
        )


async def update_duty_center(
    session: AsyncSession,
    *,
    center: DutyCenter,
    changes: dict[str, Any],
    now: datetime,
    robot_hosts: Collection[str] = (),
    announce: bool = True,
) -> DutyCenter:
    """Apply `changes` (name, leader_id, fallback_id, robot_url; only those given). The leader
    must be a member of the center; a robot's host one of `robot_hosts`. With `announce`,
    DutyCenterChanged is staged."""
    leader_id = changes.get("leader_id")
    if leader_id is not None and not await is_member(
        session, duty_center_id=center.duty_center_id, person_id=leader_id
    ):
        raise Invalid(
            f"{changes['leader_id']!r} is not a member of {center.duty_center_id!r}; "
            "add them as a member first."
        )
    if changes.get("fallback_id") is not None:
        await _check_fallback(
            session, duty_center_id=center.duty_center_id, fallback_id=changes["fallback_id"]
        )
    if changes.get("robot_url") is not None:
        check_robot_host(changes["robot_url"], robot_hosts)
    for field in ("name", "leader_id", "fallback_id", "robot_url"):
        if field in changes:
            setattr(center, field, changes[field])
    await session.flush()
    if announce:
        await announce_center(session, center=center, now=now)
    return center


async def announce_center(session: AsyncSession, *, center: DutyCenter, now: datetime) -> None:
    """Stage DutyCenterChanged: the center as it is now in this transaction, with all its
    members and its leader (workorder keeps who may act on a unit's orders from it)."""
    members = await session.scalars(
        select(DutyMember.person_id)
        .where(DutyMember.duty_center_id == center.duty_center_id)
        .order_by(DutyMember.person_id)
    )
    event = DutyCenterChanged(
        duty_center_id=center.duty_center_id,
        name=center.name,
        leader_id=center.leader_id,
        member_ids=list(members),
        changed_at=now,
    )
    await outbox.add(
        session,
        DUTY,
        new_event(event, source=SOURCE, subject=center.duty_center_id),
        key=center.duty_center_id,
    )


async def delete_duty_center(session: AsyncSession, *, center: DutyCenter, now: datetime) -> None:
    """Remove a center that never held duty: refused while it is the district's (every
    fallback ends there), another center's fallback, or has rosters or handovers (their history
    stays). Its memberships go with it; DutyCenterChanged (active false) is staged."""
    center_id = center.duty_center_id
    if center.kind == CenterKind.DISTRICT.value:
        raise InvalidState(f"{center_id!r} is the district's center; every fallback ends there.")
    leaning = await session.scalar(
        select(DutyCenter.duty_center_id).where(DutyCenter.fallback_id == center_id).limit(1)
    )
    if leaning is not None:
        raise InvalidState(f"{leaning!r} falls back to {center_id!r}; change its fallback first.")
    history = await session.scalar(
        select(Roster.roster_id).where(Roster.duty_center_id == center_id).limit(1)
    ) or await session.scalar(
        select(Handover.handover_id).where(Handover.duty_center_id == center_id).limit(1)
    )
    if history is not None:
        raise InvalidState(
            f"{center_id!r} has rosters or handovers (e.g. {history!r}); it stays, with its "
            "history."
        )
    await session.execute(delete(DutyMember).where(DutyMember.duty_center_id == center_id))
    await session.delete(center)
    await session.flush()
    event = DutyCenterChanged(
        duty_center_id=center_id,
        name=center.name,
        leader_id=None,
        member_ids=[],
        active=False,
        changed_at=now,
    )
    await outbox.add(
        session, DUTY, new_event(event, source=SOURCE, subject=center_id), key=center_id
    )


async def is_member(session: AsyncSession, *, duty_center_id: str, person_id: str) -> bool:
    return await session.get(DutyMember, (duty_center_id, person_id)) is not None


class _Keep(Enum):
    KEEP = "keep"


KEEP: Literal[_Keep.KEEP] = _Keep.KEEP
"""For `put_member`'s e-mail and locale: leave what the person has (nothing for someone new)."""


async def put_member(
    session: AsyncSession,
    *,
    center: DutyCenter,
    person_id: str,
    name: str,
    phone: str,
    now: datetime,
    email: str | Literal[_Keep.KEEP] | None = KEEP,
    locale: str | Literal[_Keep.KEEP] = KEEP,
    announce: bool = True,
) -> Person:
    """Add someone (by their account's username) to a center, or update how to reach them. A
    phone is one person's: an SMS reply (报到) names its sender by it. `email` and `locale`
    are the person's wherever they are a member, so they change only when given."""
    holder = await session.scalar(
        select(Person.person_id).where(Person.phone == phone, Person.person_id != person_id)
    )
    if holder is not None:
        raise Conflict(
            f"{phone} is {holder!r}'s phone; SMS replies could not tell the two apart.",
            person_id=holder,
        )
    values: dict[str, Any] = {"person_id": person_id, "name": name, "phone": phone}
    if email is not KEEP:
        values["email"] = email
    if locale is not KEEP:
        values["locale"] = locale
    stmt = insert(Person).values(**values)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[Person.person_id],
            set_={k: stmt.excluded[k] for k in values if k != "person_id"},
        )
    )
    await session.execute(
        insert(DutyMember)
        .values(duty_center_id=center.duty_center_id, person_id=person_id, added_at=now)
        .on_conflict_do_nothing()
    )
    person = await session.get(Person, person_id, populate_existing=True)
    if person is None:  # inserted or updated just above, in this transaction
        raise RuntimeError(f"person {person_id!r} vanished")
    if announce:
        await announce_center(session, center=center, now=now)
    return person


async def remove_member(
    session: AsyncSession, *, center: DutyCenter, person_id: str, now: datetime
) -> None:
    if not await is_member(session, duty_center_id=center.duty_center_id, person_id=person_id):
        raise NotFound(f"{person_id!r} is not a member of {center.duty_center_id!r}.")
    upcoming = await session.scalar(
        select(Shift.shift_id)
        .where(
            Shift.duty_center_id == center.duty_center_id,
            Shift.person_id == person_id,
            Shift.published,
            Shift.ends_at > now,
        )
        .limit(1)
    )
    if upcoming is not None:
        raise InvalidState(
            f"{person_id!r} has published shifts at {center.duty_center_id!r} still to come "
            f"(e.g. {upcoming!r}); swap them away first."
        )
    if center.leader_id == person_id:
        raise InvalidState(
            f"{person_id!r} leads {center.duty_center_id!r}; name another leader first."
        )
    await session.execute(
        delete(DutyMember).where(
            DutyMember.duty_center_id == center.duty_center_id, DutyMember.person_id == person_id
        )
    )
    await announce_center(session, center=center, now=now)


async def list_members(session: AsyncSession, *, duty_center_id: str) -> list[Person]:
    rows = await session.scalars(
        select(Person)
        .join(DutyMember, DutyMember.person_id == Person.person_id)
        .where(DutyMember.duty_center_id == duty_center_id)
        .order_by(Person.person_id)
    )
    return list(rows)


# -- who is on duty -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Staffing:
    """A center at an instant: who is on duty, who of them checked in, and how it stands."""

    people: list[OnDutyPerson]
    checked_in: dict[str, datetime]  # shift id -> when
    attendance: Attendance


async def staffing_at(
    session: AsyncSession, *, duty_center_ids: Sequence[str] | None, at: datetime, grace: timedelta
) -> dict[str, Staffing]:
    """How each of these centers (None: all) stands at `at`; centers with nobody on duty are
    present, as UNSTAFFED."""
    stmt = (
        select(Shift, Person)
        .join(Person, Person.person_id == Shift.person_id)
        .where(Shift.published, Shift.ends_at > at, Shift.starts_at <= at)
    )
    if duty_center_ids is None:
        center_ids = list(await session.scalars(select(DutyCenter.duty_center_id)))
    else:
        center_ids = list(duty_center_ids)
        stmt = stmt.where(Shift.duty_center_id.in_(center_ids))
    people: dict[str, Person] = {}
    spans: dict[str, list[ShiftSpan]] = defaultdict(list)
    checked: dict[str, dict[str, datetime]] = defaultdict(dict)
    for shift, person in await session.execute(stmt):
        people[person.person_id] = person
        spans[shift.duty_center_id].append(shift.span())
        if shift.checked_in_at is not None:
            checked[shift.duty_center_id][shift.shift_id] = shift.checked_in_at
    result: dict[str, Staffing] = {}
    for center_id in center_ids:
        center_spans = spans.get(center_id, [])
        result[center_id] = Staffing(
            people=[
                OnDutyPerson(
                    s.person_id,
                    people[s.person_id].name,
                    people[s.person_id].phone,
                    s,
                    email=people[s.person_id].email,
                    locale=people[s.person_id].locale,
                )
                for s in on_duty(center_spans, at)
            ],
            checked_in=checked.get(center_id, {}),
            attendance=attendance(
                center_spans, checked_in=checked.get(center_id, {}).keys(), at=at, grace=grace
            ),
        )
    return result


# -- routing ------------------------------------------------------------------------------------


async def current_routing(session: AsyncSession) -> tuple[int, list[RoutingRule]]:
    """The routing in force: the highest version, or version 0, the built-in default."""
    row = await session.scalar(
        select(RoutingPolicy).order_by(RoutingPolicy.version.desc()).limit(1)
    )
    if row is None:
        return 0, list(DEFAULT_RULES)
    return row.version, rules_from_json(row.rules)


async def routing_version(session: AsyncSession, *, version: int) -> RoutingPolicy | None:
    return await session.get(RoutingPolicy, version)


async def routing_versions(session: AsyncSession) -> list[RoutingPolicy]:
    """Every version of the routing, newest first (at most 200)."""
    return list(
        await session.scalars(
            select(RoutingPolicy).order_by(RoutingPolicy.version.desc()).limit(200)
        )
    )


async def put_routing(
    session: AsyncSession,
    *,
    rules: Sequence[RoutingRule],
    note: str | None,
    by: str,
    now: datetime,
) -> RoutingPolicy:
    """A new version of the routing; the older ones stay, to say later why an alarm went
    where it did. Serialised by a lock on the table, so two editors get two versions."""
    await session.execute(
        text(f"LOCK TABLE {SCHEMA}.{RoutingPolicy.__tablename__} IN SHARE ROW EXCLUSIVE MODE")
    )
    latest = await session.scalar(
        select(RoutingPolicy.version).order_by(RoutingPolicy.version.desc()).limit(1)
    )
    row = RoutingPolicy(
        version=(latest or 0) + 1,
        rules=rules_to_json(rules),
        note=note,
        created_by=by,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return row


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """Where an alarm goes and why: the routed centers (fallbacks after the centers they take
    over for), the centers left uncovered with the reason, and how each routed center stands
    (who is on duty there, who checked in)."""

    version: int
    routed: list[Routed]
    uncovered: dict[str, str]
    staffing: dict[str, Staffing]

    def people_at(self, duty_center_id: str) -> list[OnDutyPerson]:
        found = self.staffing.get(duty_center_id)
        return found.people if found is not None else []


async def route_alarm(
    session: AsyncSession, *, place: AlarmPlace, level: Level, at: datetime, grace: timedelta
) -> RouteDecision:
    """Who an alarm at `place` and `level` goes to at `at`, by the current routing, with the
    fallback of every routed center that has nobody on duty or nobody checked in."""
    version, rules = await current_routing(session)
    centers = [c.ref() for c in await session.scalars(select(DutyCenter))]
    staffing = await staffing_at(
        session, duty_center_ids=[c.duty_center_id for c in centers], at=at, grace=grace
    )
    uncovered = {
        center_id: _why_uncovered(s, grace)
        for center_id, s in staffing.items()
        if s.attendance in (Attendance.UNSTAFFED, Attendance.MISSED)
    }
    primary = route(rules, place, level, centers)
    routed = with_fallbacks(primary, centers, uncovered=uncovered)
    routed_uncovered = {
        r.center.duty_center_id: uncovered[r.center.duty_center_id]
        for r in routed
        if r.center.duty_center_id in uncovered
    }
    return RouteDecision(
        version=version,
        routed=routed,
        uncovered=routed_uncovered,
        staffing={
            c: staffing[c] for c in (r.center.duty_center_id for r in routed) if c in staffing
        },
    )


def _why_uncovered(staffing: Staffing, grace: timedelta) -> str:
    if staffing.attendance is Attendance.UNSTAFFED:
        return "nobody on duty"
    minutes = int(grace.total_seconds() // 60)
    return f"nobody checked in within {minutes} min of the shift start"


# -- duty alerts --------------------------------------------------------------------------------


async def raise_alert(
    session: AsyncSession,
    *,
    kind: AlertKind,
    duty_center_id: str | None,
    dedupe_key: str,
    detail: str,
    now: datetime,
    alarm_id: str | None = None,
    shift_id: str | None = None,
) -> bool:
    """Record a duty alert unless one with `dedupe_key` exists. True when it is new."""
    result = await session.execute(
        insert(DutyAlert)
        .values(
            alert_id=str(uuid.uuid4()),
            kind=kind.value,
            duty_center_id=duty_center_id,
            dedupe_key=dedupe_key,
            shift_id=shift_id,
            alarm_id=alarm_id,
            detail=detail[:500],
            raised_at=now,
        )
        .on_conflict_do_nothing(index_elements=[DutyAlert.dedupe_key])
        .returning(DutyAlert.alert_id)
    )
    new = result.scalar() is not None
    if new:
        # Info, not warning: the alert is a row in the API and its people are told; the log
        # line only traces it.
        log.info("duty_alert", kind=kind.value, duty_center_id=duty_center_id, detail=detail)
    return new


async def resolve_alerts(
    session: AsyncSession, *, duty_center_id: str, kinds: Iterable[AlertKind], now: datetime
) -> int:
    """Close the center's open alerts of these kinds. An open alert's key ends in ':open' so
    that there is one at a time; closing frees it for the next."""
    result = await session.execute(
        update(DutyAlert)
        .where(
            DutyAlert.duty_center_id == duty_center_id,
            DutyAlert.kind.in_([k.value for k in kinds]),
            DutyAlert.resolved_at.is_(None),
        )
        .values(resolved_at=now, dedupe_key=DutyAlert.dedupe_key + ":" + DutyAlert.alert_id)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def list_alerts(
    session: AsyncSession,
    *,
    kind: str | None,
    duty_center_id: str | None,
    open_only: bool,
    cursor: str | None,
    limit: int,
) -> tuple[list[DutyAlert], str | None]:
    stmt = select(DutyAlert)
    if kind is not None:
        stmt = stmt.where(DutyAlert.kind == kind)
    if duty_center_id is not None:
        stmt = stmt.where(DutyAlert.duty_center_id == duty_center_id)
    if open_only:
        stmt = stmt.where(DutyAlert.resolved_at.is_(None))
    stmt = keyset(stmt, at=DutyAlert.raised_at, id_=DutyAlert.alert_id, cursor=cursor, limit=limit)
    rows = (await session.scalars(stmt)).all()
    return page_of(rows, limit=limit, at="raised_at", id_="alert_id")


# -- rosters ------------------------------------------------------------------------------------


def _spec_json(spec: rostering.RosterSpec) -> dict[str, Any]:
    return {
        "templates": [
            {
                "name": t.name,
                "start": t.start.isoformat("minutes"),
                "end": t.end.isoformat("minutes"),
            }
            for t in spec.templates
        ],
        "rotation": list(spec.rotation),
        "overrides": [
            {"day": o.day.isoformat(), "template": o.template, "person_id": o.person_id}
            for o in spec.overrides
        ],
    }


def spec_of(data: dict[str, Any]) -> rostering.RosterSpec:
    return rostering.RosterSpec(
        templates=tuple(
            rostering.ShiftTemplate(
                t["name"], time.fromisoformat(t["start"]), time.fromisoformat(t["end"])
            )
            for t in data["templates"]
        ),
        rotation=tuple(data["rotation"]),
        overrides=tuple(
            rostering.Override(date.fromisoformat(o["day"]), o["template"], o["person_id"])
            for o in data.get("overrides", [])
        ),
    )


async def get_roster_or_raise(
    session: AsyncSession, *, roster_id: str, scope: Scope = DISTRICT, for_update: bool = False
) -> tuple[Roster, DutyCenter]:
    roster = await session.get(Roster, roster_id, with_for_update=for_update)
    if roster is None:
        raise NotFound(f"No roster {roster_id!r}.")
    center = await get_duty_center_or_raise(
        session, duty_center_id=roster.duty_center_id, scope=scope
    )
    return roster, center


async def list_rosters(
    session: AsyncSession, *, duty_center_id: str, status: str | None
) -> list[Roster]:
    stmt = select(Roster).where(Roster.duty_center_id == duty_center_id)
    if status is not None:
        stmt = stmt.where(Roster.status == status)
    return list(await session.scalars(stmt.order_by(Roster.period_start.desc()).limit(200)))


async def roster_shifts(session: AsyncSession, *, roster_id: str) -> list[Shift]:
    return list(
        await session.scalars(
            select(Shift)
            .where(Shift.roster_id == roster_id)
            .order_by(Shift.starts_at, Shift.shift_id)
        )
    )


def _check_spec(spec: rostering.RosterSpec, *, first_day: date, days: int) -> None:
    names = [t.name for t in spec.templates]
    if not names:
        raise Invalid("A roster needs at least one shift template.")
    if len(set(names)) != len(names):
        raise Invalid(f"Shift template names repeat: {names}.")
    last_day = first_day + timedelta(days=days - 1)
    for o in spec.overrides:
        if o.template not in names:
            raise Invalid(f"Override on {o.day}: no template {o.template!r}.")
        if not first_day <= o.day <= last_day:
            raise Invalid(f"Override on {o.day}: outside the roster ({first_day}..{last_day}).")


async def save_draft(
    session: AsyncSession,
    *,
    center: DutyCenter,
    roster: Roster | None,
    first_day: date,
    days: int,
    spec: rostering.RosterSpec,
    allow_gaps: bool,
    by: str,
    now: datetime,
    tz: ZoneInfo,
    roster_id: str | None = None,
) -> Roster:
    """Create a draft roster, or replace a draft's layout; its shifts are laid out again."""
    _check_spec(spec, first_day=first_day, days=days)
    start, end = rostering.period_of(first_day, days, tz)
    if roster is None:
        roster = Roster(
            roster_id=roster_id or str(uuid.uuid4()),
            duty_center_id=center.duty_center_id,
            status="draft",
            version=0,
            created_by=by,
            created_at=now,
        )
        session.add(roster)
    elif roster.status != "draft":
        raise InvalidState(
            f"Roster {roster.roster_id!r} is published; change it by a swap, or draft a new one."
        )
    roster.first_day, roster.days = first_day, days
    roster.period_start, roster.period_end = start, end
    roster.spec = _spec_json(spec)
    roster.allow_gaps = allow_gaps
    roster.updated_at = now
    await session.flush()
    await session.execute(delete(Shift).where(Shift.roster_id == roster.roster_id))
    spans = rostering.lay_out(
        roster.roster_id, center.duty_center_id, spec, first_day=first_day, days=days, tz=tz
    )
    unknown = {s.person_id for s in spans} - set(
        await session.scalars(
            select(Person.person_id).where(Person.person_id.in_({s.person_id for s in spans}))
        )
    )
    if unknown:
        raise Invalid(
            f"Not members of any center (add them first): {sorted(unknown)}.",
            unknown_people=sorted(unknown),
        )
    if spans:
        await session.execute(
            insert(Shift).values(
                [
                    {
                        "shift_id": s.shift_id,
                        "roster_id": roster.roster_id,
                        "duty_center_id": s.duty_center_id,
                        "person_id": s.person_id,
                        "template": s.shift_id.rsplit(":", 1)[1],
                        "starts_at": s.starts_at,
                        "ends_at": s.ends_at,
                        "published": False,
                    }
                    for s in spans
                ]
            )
        )
    return roster


async def roster_problems(
    session: AsyncSession, *, roster: Roster
) -> list[rostering.RosterProblem]:
    """What stands between a roster and publication, from the pure check in rostering."""
    shifts = [s.span() for s in await roster_shifts(session, roster_id=roster.roster_id)]
    people = {s.person_id for s in shifts}
    members = await session.scalars(
        select(DutyMember.person_id).where(DutyMember.duty_center_id == roster.duty_center_id)
    )
    elsewhere = [
        s.span()
        for s in await session.scalars(
            select(Shift).where(
                Shift.person_id.in_(people),
                Shift.published,
                Shift.duty_center_id != roster.duty_center_id,
                Shift.starts_at < roster.period_end,
                Shift.ends_at > roster.period_start,
            )
        )
    ]
    neighbours = [
        s.span()
        for s in await session.scalars(
            select(Shift).where(
                Shift.duty_center_id == roster.duty_center_id,
                Shift.published,
                Shift.roster_id != roster.roster_id,
                Shift.starts_at < roster.period_end,
                Shift.ends_at > roster.period_start,
            )
        )
    ]
    return rostering.validate(
        shifts,
        start=roster.period_start,
        end=roster.period_end,
        members=members,
        elsewhere=elsewhere,
        neighbours=neighbours,
    )


def problems_json(problems: Iterable[rostering.RosterProblem]) -> list[dict[str, Any]]:
    return [
        {
            "kind": p.kind.value,
            "starts_at": p.starts_at.isoformat(),
            "ends_at": p.ends_at.isoformat(),
            "minutes": round(p.minutes, 1),
            "person_id": p.person_id,
            "shift_ids": list(p.shift_ids),
            "other_duty_center_id": p.other_duty_center_id,
        }
        for p in problems
    ]


@dataclass(frozen=True, slots=True)
class Publication:
    roster: Roster
    shifts: list[Shift]
    people: list[Person]


async def publish_roster(
    session: AsyncSession, *, roster: Roster, center: DutyCenter, by: str, now: datetime
) -> Publication:
    """Publish a roster (or publish it again after a swap): refused with every problem listed
    while any blocks it; otherwise its shifts go on duty, RosterPublished is staged, and each
    person on it is sent their shifts."""
    problems = await roster_problems(session, roster=roster)
    blocking = rostering.blocking(problems, allow_gaps=roster.allow_gaps)
    if blocking:
        raise InvalidState(
            f"Roster {roster.roster_id!r} has {len(blocking)} problem(s); fix them first"
            + (
                " (or allow gaps)"
                if all(p.kind is rostering.ProblemKind.GAP for p in blocking)
                else ""
            )
            + ".",
            problems=problems_json(blocking),
        )
    others = await session.scalars(
        select(Roster.roster_id).where(
            Roster.duty_center_id == roster.duty_center_id,
            Roster.status == "published",
            Roster.roster_id != roster.roster_id,
            Roster.period_start < roster.period_end,
            Roster.period_end > roster.period_start,
        )
    )
    clashing = list(others)
    if clashing:
        raise InvalidState(
            f"Published roster(s) {clashing} already cover part of this period at "
            f"{roster.duty_center_id!r}.",
            rosters=clashing,
        )
    roster.status = "published"
    roster.version += 1
    roster.published_at = now
    roster.first_published_at = roster.first_published_at or now
    roster.published_by = by
    roster.updated_at = now
    await session.execute(
        update(Shift).where(Shift.roster_id == roster.roster_id).values(published=True)
    )
    shifts = await roster_shifts(session, roster_id=roster.roster_id)
    event = RosterPublished(
        roster_id=roster.roster_id,
        version=roster.version,
        duty_center_id=roster.duty_center_id,
        period_start=roster.period_start,
        period_end=roster.period_end,
        shifts=[
            ShiftRef(
                shift_id=s.shift_id, person_id=s.person_id, starts_at=s.starts_at, ends_at=s.ends_at
            )
            for s in shifts
        ],
        published_at=now,
    )
    await outbox.add(
        session,
        DUTY,
        new_event(event, source=SOURCE, subject=roster.roster_id),
        key=roster.duty_center_id,
    )
    people = list(
        await session.scalars(
            select(Person).where(Person.person_id.in_({s.person_id for s in shifts}))
        )
    )
    await session.flush()
    log.info(
        "roster_published",
        roster_id=roster.roster_id,
        version=roster.version,
        duty_center_id=center.duty_center_id,
        shifts=len(shifts),
        people=len(people),
    )
    return Publication(roster, shifts, people)


# -- swaps --------------------------------------------------------------------------------------


async def request_swap(
    session: AsyncSession,
    *,
    shift_id: str,
    to_person_id: str,
    reason: str | None,
    by: str,
    now: datetime,
    scope: Scope = DISTRICT,
) -> SwapRequest:
    shift = await session.get(Shift, shift_id)
    if shift is None:
        raise NotFound(f"No shift {shift_id!r}.")
    center = await get_duty_center_or_raise(
        session, duty_center_id=shift.duty_center_id, scope=scope
    )
    if by not in (shift.person_id, center.leader_id):
        raise Forbidden("Only the person on the shift or the center's leader may ask to swap it.")
    if shift.ends_at <= now:
        raise InvalidState(f"Shift {shift_id!r} is over.")
    if not await is_member(session, duty_center_id=center.duty_center_id, person_id=to_person_id):
        raise Invalid(f"{to_person_id!r} is not a member of {center.duty_center_id!r}.")
    if to_person_id == shift.person_id:
        raise Invalid(f"{to_person_id!r} is already on shift {shift_id!r}.")
    swap = SwapRequest(
        swap_id=str(uuid.uuid4()),
        shift_id=shift_id,
        duty_center_id=center.duty_center_id,
        from_person_id=shift.person_id,
        to_person_id=to_person_id,
        reason=reason,
        status=SwapStatus.REQUESTED.value,
        requested_by=by,
        requested_at=now,
    )
    session.add(swap)
    await session.flush()
    return swap


async def decide_swap(
    session: AsyncSession,
    *,
    swap_id: str,
    approve: bool,
    by: str,
    may_manage: bool,
    now: datetime,
    scope: Scope = DISTRICT,
) -> tuple[SwapRequest, Publication | None]:
    """The leader (or a duty manager whose scope holds the center) approves or rejects a swap.
    Approval moves the shift to the other person and publishes the roster again, refused if
    that makes a problem (the other person would be on two shifts at once)."""
    swap = await session.get(SwapRequest, swap_id, with_for_update=True)
    if swap is None:
        raise NotFound(f"No swap request {swap_id!r}.")
    center = await get_duty_center_or_raise(
        session, duty_center_id=swap.duty_center_id, scope=scope
    )
    if by != center.leader_id and not may_manage:
        raise Forbidden(f"Only the leader of {center.duty_center_id!r} decides its swaps.")
    try:
        decided = decide_swap_status(SwapStatus(swap.status), approve=approve)
    except SwapAlreadyDecided as exc:
        raise InvalidState(f"Swap {swap_id!r} is already {exc.status.value}.") from exc
    swap.status = decided.value
    swap.decided_by, swap.decided_at = by, now
    publication = None
    if decided is SwapStatus.APPROVED:
        shift = await session.get(Shift, swap.shift_id, with_for_update=True)
        if shift is None:  # shifts are never deleted once published
            raise NotFound(f"No shift {swap.shift_id!r}.")
        if shift.person_id != swap.from_person_id:
            raise InvalidState(f"Shift {shift.shift_id!r} changed hands since the request.")
        shift.person_id = swap.to_person_id
        shift.checked_in_at = shift.checked_in_via = shift.checked_in_late = None
        await session.flush()
        roster, _ = await get_roster_or_raise(session, roster_id=shift.roster_id, for_update=True)
        if roster.status == "published":
            publication = await publish_roster(
                session, roster=roster, center=center, by=by, now=now
            )
    await session.flush()
    return swap, publication


# -- check-in (报到) ------------------------------------------------------------------------------


async def check_in(
    session: AsyncSession,
    *,
    person_id: str,
    at: datetime,
    via: str,
    grace: timedelta,
    duty_center_id: str | None = None,
) -> Shift:
    """The person reports for the shift they are on now (or starting within half an hour).
    Checking in again answers the same shift and changes nothing."""
    stmt = select(Shift).where(
        Shift.person_id == person_id,
        Shift.published,
        Shift.ends_at > at,
        Shift.starts_at <= at + CHECK_IN_EARLY,
    )
    if duty_center_id is not None:
        stmt = stmt.where(Shift.duty_center_id == duty_center_id)
    shifts = {s.shift_id: s for s in await session.scalars(stmt.with_for_update())}
    done = check_in_to(
        [s.span() for s in shifts.values()],
        person_id=person_id,
        at=at,
        grace=grace,
        checked_in={
            s.shift_id: (s.checked_in_at, bool(s.checked_in_late))
            for s in shifts.values()
            if s.checked_in_at is not None
        },
    )
    if done is None:
        minutes = int(CHECK_IN_EARLY.total_seconds() // 60)
        raise InvalidState(
            f"{person_id!r} has no published shift now or within {minutes} minutes"
            + (f" at {duty_center_id!r}" if duty_center_id else "")
            + "."
        )
    shift = shifts[done.shift.shift_id]
    if not done.new:
        return shift
    late = done.late
    shift.checked_in_at, shift.checked_in_via, shift.checked_in_late = done.at, via, late
    await session.flush()
    event = DutyCheckedIn(
        duty_center_id=shift.duty_center_id,
        shift_id=shift.shift_id,
        person_id=person_id,
        checked_in_at=at,
        late=late,
        via="sms" if via == "sms" else "api",
    )
    await outbox.add(
        session,
        DUTY,
        new_event(event, source=SOURCE, subject=shift.shift_id),
        key=shift.duty_center_id,
    )
    resolved = await resolve_alerts(
        session,
        duty_center_id=shift.duty_center_id,
        kinds=(AlertKind.MISSED_CHECK_IN, AlertKind.NOBODY_ON_DUTY),
        now=at,
    )
    log.info(
        "duty_checked_in",
        person_id=person_id,
        shift_id=shift.shift_id,
        duty_center_id=shift.duty_center_id,
        late=late,
        via=via,
        alerts_resolved=resolved,
    )
    return shift


CHECK_IN_WORDS = frozenset({"报到", "BD", "CHECKIN", "CHECK IN", "1"})


def is_check_in_reply(text: str) -> bool:
    """Whether an SMS reply means "I report for duty": 报到, BD, CHECKIN or 1."""
    return text.strip().upper() in CHECK_IN_WORDS


async def person_by_phone(session: AsyncSession, *, phone: str) -> Person | None:
    rows = list(await session.scalars(select(Person).where(Person.phone == phone).limit(2)))
    return rows[0] if len(rows) == 1 else None


# -- missed check-ins ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Missed:
    """A center where nobody checked in: the alert raised, and whom to tell."""

    center: DutyCenter
    shift: ShiftSpan
    leader: Person | None


async def find_missed_check_ins(
    session: AsyncSession, *, staffing: dict[str, Staffing], now: datetime, grace: timedelta
) -> list[Missed]:
    """Raise a duty alert for every center whose people on duty now have not checked in
    `grace` after their shift started, once per shift; the centers newly alerted, with their
    leaders, to be told. `staffing`: every center's at `now` (staffing_at)."""
    missed: list[Missed] = []
    for center_id, s in staffing.items():
        if s.attendance is not Attendance.MISSED:
            continue
        first = min((p.shift for p in s.people), key=lambda span: (span.starts_at, span.shift_id))
        names = ", ".join(p.person_id for p in s.people)
        new = await raise_alert(
            session,
            kind=AlertKind.MISSED_CHECK_IN,
            duty_center_id=center_id,
            dedupe_key=f"{AlertKind.MISSED_CHECK_IN.value}:{first.shift_id}",
            shift_id=first.shift_id,
            detail=(
                f"nobody at {center_id} checked in by {(first.starts_at + grace).isoformat()} "
                f"(on duty: {names}); its alarms also go to the next level up"
            ),
            now=now,
        )
        if not new:
            continue
        center = await session.get(DutyCenter, center_id)
        if center is None:  # staffing_at listed it in this transaction
            continue
        leader = await session.get(Person, center.leader_id) if center.leader_id else None
        missed.append(Missed(center, first, leader))
    return missed
