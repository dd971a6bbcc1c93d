"""Bulk import of duty centers: centers (with their group robot), their members (with e-mail
and locale) and leader, and a roster published at once, from a YAML or JSON document
(`riskwatch duty import FILE`, and the demo's own file).

Idempotent: a center that exists is updated where the document differs, a member already there
with the same name and phone (and e-mail and locale, when given) is left alone, and a roster
whose period published rosters already cover is kept, so applying the same document again
changes nothing and tells nobody twice. On a later day a document with a relative first day
("today-1") publishes only the days after the last published roster: a demo seeded every few
hours never runs out of shifts.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from importlib import resources
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import structlog
import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    model_validator,
)
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common.catalog import Catalog
from riskwatch.common.errors import AppError, Conflict, Invalid
from riskwatch.common.events.duty import DISTRICT_CENTER_ID, sector_center_id, street_center_id
from riskwatch.common.inputs import Line
from riskwatch.notify.duty import notices, rostering, service
from riskwatch.notify.duty.domain import CenterKind
from riskwatch.notify.duty.models import DutyCenter, DutyMember, Person, Roster
from riskwatch.notify.duty.schemas import Email, RobotUrl
from riskwatch.notify.templates.domain import DEFAULT_LOCALE, Locale

log = structlog.get_logger(__name__)

DEMO_FILE = "demo_duty.yaml"
DEMO_BY = "demo-seed"  # who the demo's rosters are published by
# pg_advisory_xact_lock(namespace, hashtext(center id)): one import of a center at a time, also
# from several processes (every replica seeds the demo at its start).
_LOCK_NAMESPACE = 7310

# -- the document -------------------------------------------------------------------------------

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
# Short enough for the roster ids made from it (roster ids hold 64 characters).
CenterId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,47}$")]
Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9]{5,20}$")]
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
_RELATIVE = re.compile(r"^today(?:([+-])([0-9]{1,2}))?$")


def _clock(value: Any) -> Any:
    if isinstance(value, time):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 17:30 as the base-60 number 1050.
        raise ValueError('a time "HH:MM" (in YAML, quote it: "17:30" unquoted is read as a number)')
    match = _HHMM.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError('a time "HH:MM", 00:00 to 23:59')
    return time(int(match.group(1)), int(match.group(2)))


Clock = Annotated[
    time, BeforeValidator(_clock), PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str)
]
# A date, "today", or "today-N" / "today+N": days from today in the district's zone.
RelativeDay = Annotated[str, StringConstraints(pattern=_RELATIVE.pattern)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MemberEntry(_In):
    person_id: Slug = Field(description="the person's account username")
    name: Line = Field(min_length=1, max_length=200)
    phone: Phone
    email: Email | None = Field(
        default=None, description="e-mail notices; left as it is when not given; null: none"
    )
    locale: Locale = Field(
        default=DEFAULT_LOCALE,
        description="the language of their messages; left as it is when not given",
    )

    def contact(self) -> dict[str, Any]:
        """How to reach them, as far as the entry says: name and phone, and the e-mail and
        locale when given."""
        given: dict[str, Any] = {"name": self.name, "phone": self.phone}
        for field in ("email", "locale"):
            if field in self.model_fields_set:
                value = getattr(self, field)
                given[field] = value.value if isinstance(value, Locale) else value
        return given


class TemplateEntry(_In):
    name: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,31}$")]
    start: Clock
    end: Clock = Field(description="at or before start: the shift ends the next day")

    @model_validator(mode="after")
    def _not_empty(self) -> TemplateEntry:
        if self.start == self.end:
            raise ValueError(f"shift {self.name!r} starts and ends at the same time")
        return self


class RosterEntry(_In):
    """Shifts of `templates` every day of `days` days from `first_day`, taken in turn by
    `rotation` (default: the members, in order)."""

    templates: list[TemplateEntry] = Field(min_length=1, max_length=12)
    first_day: date | RelativeDay
    days: int = Field(ge=1, le=62)
    rotation: list[Slug] | None = Field(default=None, min_length=1)
    allow_gaps: bool = False

    @model_validator(mode="after")
    def _whole_days(self) -> RosterEntry:
        names = [t.name for t in self.templates]
        if len(set(names)) != len(names):
            raise ValueError(f"shift names repeat: {names}")
        if not self.allow_gaps:
            uncovered = uncovered_stretches(self.templates)
            if uncovered:
                stretches = ", ".join(f"{a:%H:%M}-{b:%H:%M}" for a, b in uncovered)
                raise ValueError(
                    f"the shifts leave nobody on duty {stretches} every day; add shifts, "
                    "or say allow_gaps: true"
                )
        return self


class RosterDefaults(_In):
    """What `roster: default` stands for; a center's own roster mapping overrides its keys."""

    templates: list[TemplateEntry] | None = None
    first_day: date | RelativeDay | None = None
    days: int | None = Field(default=None, ge=1, le=62)
    allow_gaps: bool | None = None


class CenterEntry(_In):
    """One duty center of an import, and the body of POST /api/v1/duty-centers/import."""

    id: CenterId
    name: Line = Field(min_length=1, max_length=200)
    kind: CenterKind
    sector_id: Slug | None = None
    town_id: Slug | None = None
    fallback_id: CenterId | None = Field(
        default=None, description="left as it is when not given; null: the default for its kind"
    )
    leader: Slug | None = Field(default=None, description="a member; left as it is when not given")
    robot_url: RobotUrl | None = Field(
        default=None,
        description='the group robot, "wecom:<https url>" or "dingtalk:<https url>" (its host '
        "among RW_ROBOT_ALLOWED_HOSTS); left as it is when not given; null: none",
    )
    members: list[MemberEntry] = Field(default_factory=list, max_length=500)
    roster: RosterEntry | None = None

    @model_validator(mode="after")
    def _consistent(self) -> CenterEntry:
        match self.kind:
            case CenterKind.DISTRICT if self.sector_id or self.town_id:
                raise ValueError(
                    "a district center covers the whole district: no sector_id, town_id"
                )
            case CenterKind.SECTOR if not self.sector_id or self.town_id:
                raise ValueError("a sector center needs its sector_id (and no town_id)")
            case CenterKind.STREET if not self.town_id or self.sector_id:
                raise ValueError("a street center needs its town_id (and no sector_id)")
        if self.fallback_id == self.id:
            raise ValueError("a center cannot fall back to itself")
        ids = [m.person_id for m in self.members]
        repeated = sorted({p for p in ids if ids.count(p) > 1})
        if repeated:
            raise ValueError(f"members repeat: {repeated}")
        phones = [m.phone for m in self.members]
        if len(set(phones)) != len(phones):
            raise ValueError(
                "two members have the same phone; SMS replies could not tell them apart"
            )
        if self.leader is not None and self.leader not in ids:
            raise ValueError(f"the leader {self.leader!r} is not one of the members")
        if self.roster is not None:
            strangers = sorted(set(self.roster.rotation or ()) - set(ids))
            if strangers:
                raise ValueError(f"the rotation names people who are not members: {strangers}")
            if not self.rotation:
                raise ValueError("a roster needs members to take turns")
        return self

    @property
    def rotation(self) -> tuple[str, ...]:
        if self.roster is not None and self.roster.rotation:
            return tuple(self.roster.rotation)
        return tuple(m.person_id for m in self.members)


def uncovered_stretches(templates: Sequence[TemplateEntry]) -> list[tuple[time, time]]:
    """The stretches of a day that no shift covers, as (from, to) local times in the order of
    the day; a stretch across midnight is one."""
    covered = [False] * 1440
    for t in templates:
        start, end = t.start.hour * 60 + t.start.minute, t.end.hour * 60 + t.end.minute
        length = (end - start) % 1440 or 1440
        for minute in range(start, start + length):
            covered[minute % 1440] = True
    if all(covered):
        return []
    # Walk from a covered minute (or midnight if none) so that a stretch across midnight is one.
    origin = covered.index(True) if any(covered) else 0
    stretches: list[tuple[int, int]] = []
    begin: int | None = None
    for step in range(1441):
        minute = (origin + step) % 1440
        if not covered[minute] and begin is None and step < 1440:
            begin = minute
        elif (covered[minute] or step == 1440) and begin is not None:
            stretches.append((begin, minute))
            begin = None
    stretches.sort()
    return [(time(a // 60, a % 60), time(b // 60, b % 60)) for a, b in stretches]


def resolve_day(value: date | str, *, now: datetime, tz: ZoneInfo) -> date:
    """A roster's first day: a date as it is, "today" (+/- N days) in the district's zone."""
    if isinstance(value, date):
        return value
    match = _RELATIVE.match(value)
    if match is None:  # the document model admits nothing else
        raise Invalid(f"first_day {value!r}: a date, today, today-N or today+N")
    sign, number = match.groups()
    shift = int(number or 0) * (-1 if sign == "-" else 1)
    return now.astimezone(tz).date() + timedelta(days=shift)


class DocumentInvalid(Exception):
    """The document as a whole is unusable (not a mapping, no list of centers...)."""


@dataclass(frozen=True, slots=True)
class Parsed:
    """One center of a document: its position (from 1), and the entry or why it is refused."""

    number: int
    center_id: str
    entry: CenterEntry | None
    error: str = ""


def read_document(data: Any) -> list[Parsed]:
    """The centers of a loaded YAML or JSON document, each validated on its own (with
    `roster: default` resolved), in an order where a center comes after the fallback it names;
    an entry in conflict with an earlier one (the same id, a person with another phone...) is
    refused. DocumentInvalid when there is no list of centers to read."""
    if not isinstance(data, Mapping):
        raise DocumentInvalid("expected a mapping with `centers:` (and `roster_defaults:`)")
    unknown = set(data) - {"centers", "roster_defaults"}
    if unknown:
        raise DocumentInvalid(f"unknown top-level keys {sorted(map(str, unknown))}")
    centers = data.get("centers")
    if not isinstance(centers, list) or not centers:
        raise DocumentInvalid("`centers:` must be a non-empty list")
    try:
        defaults = RosterDefaults.model_validate(data.get("roster_defaults") or {})
    except ValidationError as exc:
        raise DocumentInvalid(f"roster_defaults: {describe(exc)}") from exc
    parsed = [_parse(number, raw, defaults) for number, raw in enumerate(centers, start=1)]
    return _in_order(_cross_checked(parsed))


def _parse(number: int, raw: Any, defaults: RosterDefaults) -> Parsed:
    if not isinstance(raw, Mapping):
        return Parsed(number, "", None, "not a mapping")
    center_id = str(raw.get("id") or "")
    fields = dict(raw)
    roster = fields.get("roster")
    given = defaults.model_dump(exclude_none=True)
    if roster == "default":
        if not given:
            return Parsed(number, center_id, None, "roster: default, but no roster_defaults")
        fields["roster"] = given
    elif isinstance(roster, Mapping):
        fields["roster"] = {**given, **roster}
    try:
        return Parsed(number, center_id, CenterEntry.model_validate(fields))
    except ValidationError as exc:
        return Parsed(number, center_id, None, describe(exc))


def describe(exc: ValidationError) -> str:
    """Validation errors in one line, each with where it is ("roster.templates.1.start: ...");
    never the values."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def _cross_checked(parsed: list[Parsed]) -> list[Parsed]:
    seen_ids: dict[str, int] = {}
    # person -> what the entries say of how to reach them: field -> (value, center number)
    people: dict[str, dict[str, tuple[Any, int]]] = {}
    phones: dict[str, tuple[str, int]] = {}
    district: int | None = None
    result: list[Parsed] = []
    for p in parsed:
        entry = p.entry
        if entry is None:
            result.append(p)
            continue
        problems: list[str] = []
        if entry.id in seen_ids:
            problems.append(f"center {entry.id!r} is already center {seen_ids[entry.id]}")
        if entry.kind is CenterKind.DISTRICT and district is not None:
            problems.append(f"center {district} is already the district's")
        for m in entry.members:
            # What two entries both say must agree; one may leave out the e-mail or locale.
            known = people.get(m.person_id, {})
            differ: dict[int, list[str]] = {}
            for field, value in m.contact().items():
                if field in known and known[field][0] != value:
                    differ.setdefault(known[field][1], []).append(field)
            if differ:
                where = "; ".join(
                    f"{' and '.join(fields)} in center {number}"
                    for number, fields in sorted(differ.items())
                )
                problems.append(f"{m.person_id} has another {where}")
            owner = phones.get(m.phone)
            if owner is not None and owner[0] != m.person_id:
                problems.append(
                    f"{m.person_id}'s phone is {owner[0]}'s (center {owner[1]}); SMS replies "
                    "could not tell them apart"
                )
        if problems:
            result.append(Parsed(p.number, p.center_id, None, "; ".join(problems)))
            continue
        seen_ids[entry.id] = p.number
        if entry.kind is CenterKind.DISTRICT:
            district = p.number
        for m in entry.members:
            said = people.setdefault(m.person_id, {})
            for field, value in m.contact().items():
                said.setdefault(field, (value, p.number))
            phones.setdefault(m.phone, (m.person_id, p.number))
        result.append(p)
    return result


def _in_order(parsed: list[Parsed]) -> list[Parsed]:
    """Each center after the center it falls back to, when that one is in the document too;
    otherwise in the document's order. A loop of fallbacks is refused."""
    by_id = {p.entry.id: p for p in parsed if p.entry is not None}
    placed: set[int] = set()
    ordered: list[Parsed] = []

    def place(p: Parsed, path: tuple[str, ...]) -> None:
        # `path`: the centers waiting for this one, their fallback, to be placed first.
        if p.number in placed:
            return
        entry = p.entry
        if entry is not None and entry.fallback_id in by_id:
            if entry.fallback_id in path:
                loop = " -> ".join((*path, entry.id, entry.fallback_id))
                placed.add(p.number)
                ordered.append(Parsed(p.number, p.center_id, None, f"fallbacks loop: {loop}"))
                return
            place(by_id[entry.fallback_id], (*path, entry.id))
        if p.number not in placed:
            placed.add(p.number)
            ordered.append(p)

    for p in parsed:
        place(p, ())
    return ordered


# -- applying one center ------------------------------------------------------------------------


RosterAction = Literal["published", "kept", "none"]


class CenterOutcome(BaseModel):
    """What importing one center did."""

    duty_center_id: str
    status: Literal["created", "updated", "unchanged", "failed"]
    changed: list[str] = Field(
        default_factory=list,
        description="what changed on an existing center: name, fallback_id, robot_url, leader_id",
    )
    members_added: int = 0
    members_updated: int = 0
    roster: RosterAction = "none"
    roster_id: str | None = Field(default=None, description="the roster published, or the one kept")
    roster_first_day: date | None = None
    roster_days: int | None = None
    people_notified: int = 0
    notifications: int = Field(default=0, description="notices created (in the app and by SMS)")
    reason: str | None = None

    _error: AppError | None = PrivateAttr(default=None)

    def raise_if_failed(self) -> None:
        """The error that made the center fail, raised again (its transaction is rolled back
        already): for an HTTP caller, a problem answer with its status."""
        if self._error is not None:
            raise self._error


def roster_id_for(center_id: str, first_day: date, days: int) -> str:
    return f"{center_id}-{first_day:%Y%m%d}-{days}d"


async def apply_center(
    session: AsyncSession,
    *,
    catalog: Catalog,
    entry: CenterEntry,
    by: str,
    now: datetime,
    tz: ZoneInfo,
    robot_hosts: Collection[str] = (),
) -> CenterOutcome:
    """Create or update one center with its members, leader and roster, in a savepoint of the
    caller's transaction: a refused center is rolled back alone and reported with its reason.
    A robot URL must name one of `robot_hosts` (RW_ROBOT_ALLOWED_HOSTS)."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(:ns, hashtext(:id))"),
        {"ns": _LOCK_NAMESPACE, "id": entry.id},
    )
    try:
        async with session.begin_nested():
            return await _apply(
                session,
                catalog=catalog,
                entry=entry,
                by=by,
                now=now,
                tz=tz,
                robot_hosts=robot_hosts,
            )
    except AppError as exc:
        log.warning("duty_import_refused", duty_center_id=entry.id, reason=exc.detail)
        outcome = CenterOutcome(duty_center_id=entry.id, status="failed", reason=_reason(exc))
        outcome._error = exc
        return outcome


def _reason(exc: AppError) -> str:
    problems = exc.extensions.get("problems")
    if not isinstance(problems, list) or not problems:
        return exc.detail
    listed = [
        f"{p.get('kind')} {p.get('starts_at')}..{p.get('ends_at')}"
        + (f" {p['person_id']}" if p.get("person_id") else "")
        for p in problems[:3]
        if isinstance(p, dict)
    ]
    more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
    return f"{exc.detail} ({'; '.join(listed)}{more})"


async def _apply(
    session: AsyncSession,
    *,
    catalog: Catalog,
    entry: CenterEntry,
    by: str,
    now: datetime,
    tz: ZoneInfo,
    robot_hosts: Collection[str],
) -> CenterOutcome:
    center = await session.get(DutyCenter, entry.id, with_for_update=True)
    created = center is None
    changed: list[str] = []
    if center is None:
        center = await service.create_duty_center(
            session,
            catalog=catalog,
            duty_center_id=entry.id,
            name=entry.name,
            kind=entry.kind,
            sector_id=entry.sector_id,
            town_id=entry.town_id,
            fallback_id=entry.fallback_id,
            now=now,
            robot_url=entry.robot_url,
            robot_hosts=robot_hosts,
            announce=False,
        )
    else:
        _check_same_coverage(center, entry)
        wanted: dict[str, Any] = {"name": entry.name}
        for field in ("fallback_id", "robot_url"):
            if field in entry.model_fields_set:
                wanted[field] = getattr(entry, field)
        changes = {k: v for k, v in wanted.items() if getattr(center, k) != v}
        if changes:
            await service.update_duty_center(
                session,
                center=center,
                changes=changes,
                now=now,
                robot_hosts=robot_hosts,
                announce=False,
            )
            changed += sorted(changes)
    added, updated = await _put_members(session, center=center, members=entry.members, now=now)
    if entry.leader is not None and center.leader_id != entry.leader:
        await service.update_duty_center(
            session, center=center, changes={"leader_id": entry.leader}, now=now, announce=False
        )
        if not created:
            changed.append("leader_id")
    outcome = CenterOutcome(
        duty_center_id=center.duty_center_id,
        status="created" if created else "unchanged",
        changed=changed,
        members_added=added,
        members_updated=updated,
    )
    if created or changed or added or updated:
        # Once per center and import, as it stands after its members and leader.
        await service.announce_center(session, center=center, now=now)
    if entry.roster is not None:
        await _apply_roster(
            session, center=center, entry=entry, by=by, now=now, tz=tz, into=outcome
        )
    if not created and (changed or added or updated or outcome.roster == "published"):
        outcome.status = "updated"
    return outcome


def _check_same_coverage(center: DutyCenter, entry: CenterEntry) -> None:
    """What an existing center covers is not changed by an import (alarms were routed by it)."""
    found = (center.kind, center.sector_id, center.town_id)
    if found != (entry.kind.value, entry.sector_id, entry.town_id):
        where = center.sector_id or center.town_id
        raise Conflict(
            f"Duty center {center.duty_center_id!r} exists as a {center.kind} center"
            + (f" of {where!r}" if where else "")
            + "; an import changes only its name, fallback, robot, leader, members and rosters."
        )


async def _put_members(
    session: AsyncSession, *, center: DutyCenter, members: Sequence[MemberEntry], now: datetime
) -> tuple[int, int]:
    """Add the members missing and update those whose name, phone, e-mail or locale (the last
    two when given) differ; members not in the document stay. (added, updated)."""
    if not members:
        return 0, 0
    ids = [m.person_id for m in members]
    people = {
        p.person_id: p
        for p in await session.scalars(select(Person).where(Person.person_id.in_(ids)))
    }
    current = set(
        await session.scalars(
            select(DutyMember.person_id).where(
                DutyMember.duty_center_id == center.duty_center_id,
                DutyMember.person_id.in_(ids),
            )
        )
    )
    others = await session.execute(
        select(Person.phone, Person.person_id).where(
            Person.phone.in_([m.phone for m in members]), Person.person_id.not_in(ids)
        )
    )
    phone_owners: dict[str, str] = dict(others.all())
    added = updated = 0
    for m in members:
        if m.phone in phone_owners:
            raise Invalid(
                f"{m.person_id}'s phone is {phone_owners[m.phone]}'s already; SMS replies could "
                "not tell them apart."
            )
        person = people.get(m.person_id)
        contact = m.contact()
        same = person is not None and all(getattr(person, k) == v for k, v in contact.items())
        if same and m.person_id in current:
            continue
        await service.put_member(
            session,
            center=center,
            person_id=m.person_id,
            name=m.name,
            phone=m.phone,
            now=now,
            email=contact.get("email", service.KEEP),
            locale=contact.get("locale", service.KEEP),
            announce=False,
        )
        if m.person_id not in current:
            added += 1
        else:
            updated += 1
    return added, updated


async def _apply_roster(
    session: AsyncSession,
    *,
    center: DutyCenter,
    entry: CenterEntry,
    by: str,
    now: datetime,
    tz: ZoneInfo,
    into: CenterOutcome,
) -> None:
    """Publish the roster asked for; when published rosters of the center overlap its period,
    only the part after the last of them, the turns going on from where that one left them,
    and nothing when they reach its end."""
    roster_in = entry.roster
    if roster_in is None:
        return
    first_day = resolve_day(roster_in.first_day, now=now, tz=tz)
    days = roster_in.days
    start, end = rostering.period_of(first_day, days, tz)
    published = list(
        await session.scalars(
            select(Roster)
            .where(
                Roster.duty_center_id == center.duty_center_id,
                Roster.status == "published",
                Roster.period_start < end,
                Roster.period_end > start,
            )
            .order_by(Roster.period_end.desc(), Roster.roster_id)
        )
    )
    if published and published[0].period_end >= end:
        into.roster, into.roster_id = "kept", published[0].roster_id
        into.roster_first_day, into.roster_days = published[0].first_day, published[0].days
        return
    rotation = entry.rotation
    shift = 0
    if published:
        last = published[0]
        tail = last.first_day + timedelta(days=last.days)
        shift = _turns_after(
            last, rotation, fallback=(tail - first_day).days * len(roster_in.templates)
        )
        days -= (tail - first_day).days
        first_day = tail
        start, end = rostering.period_of(first_day, days, tz)
    spec = rostering.RosterSpec(
        templates=tuple(
            rostering.ShiftTemplate(t.name, t.start, t.end) for t in roster_in.templates
        ),
        rotation=rotation[shift:] + rotation[:shift],
    )
    roster_id = roster_id_for(center.duty_center_id, first_day, days)
    existing = await session.get(Roster, roster_id, with_for_update=True)
    roster = await service.save_draft(
        session,
        center=center,
        roster=existing,  # a draft left by hand: laid out again (a published one is kept above)
        first_day=first_day,
        days=days,
        spec=spec,
        allow_gaps=roster_in.allow_gaps,
        by=by,
        now=now,
        tz=tz,
        roster_id=roster_id,
    )
    publication = await service.publish_roster(
        session, roster=roster, center=center, by=by, now=now
    )
    sent = await notices.notify_publication(
        session, publication=publication, center=center, tz=tz, now=now
    )
    into.roster, into.roster_id = "published", roster.roster_id
    into.roster_first_day, into.roster_days = first_day, days
    into.people_notified = len(publication.people)
    into.notifications = len(sent)


def _turns_after(last: Roster, rotation: tuple[str, ...], *, fallback: int) -> int:
    """Where in `rotation` the turns stand after the `last` roster: it took them in the same
    order (from some point of it) over days x templates slots. Otherwise `fallback` (slots
    from the document's first day)."""
    previous = service.spec_of(last.spec)
    slots = last.days * len(previous.templates)
    for start in range(len(rotation)):
        if rotation[start:] + rotation[:start] == previous.rotation:
            return (start + slots) % len(rotation)
    return fallback % len(rotation)


# -- the demo -----------------------------------------------------------------------------------


@cache
def demo_entries() -> tuple[CenterEntry, ...]:
    """The centers of the bundled demo file, all valid (a test holds it to that)."""
    data = yaml.safe_load(
        resources.files("riskwatch.notify").joinpath(DEMO_FILE).read_text("utf-8")
    )
    parsed = read_document(data)
    refused = [f"{p.number} ({p.center_id}): {p.error}" for p in parsed if p.entry is None]
    if refused:
        raise DocumentInvalid(f"{DEMO_FILE}: " + "; ".join(refused))
    return tuple(p.entry for p in parsed if p.entry is not None)


def _in_catalog(entry: CenterEntry, catalog: Catalog) -> bool:
    if entry.sector_id is not None:
        return entry.sector_id in {s.id for s in catalog.sectors}
    if entry.town_id is not None:
        return entry.town_id in {t.id for t in catalog.towns}
    return True


def catalog_centers(catalog: Catalog, listed: Iterable[CenterEntry]) -> list[CenterEntry]:
    """A center, with nobody yet, for the district, each sector and each of the catalog's towns
    that `listed` does not have: every alarm has a center to go to, and one nobody staffs shows
    as such (a duty alert, and its fallback is told) instead of not existing."""
    have = {e.id for e in listed} | {
        key for e in listed for key in (e.sector_id, e.town_id) if key is not None
    }
    wanted = [
        CenterEntry(
            id=DISTRICT_CENTER_ID,
            name=f"{catalog.district.name} duty center",
            kind=CenterKind.DISTRICT,
        )
    ]
    wanted += [
        CenterEntry(
            id=sector_center_id(s.id),
            name=f"{s.name} sub-platform duty center",
            kind=CenterKind.SECTOR,
            sector_id=s.id,
        )
        for s in catalog.sectors
        if s.id not in have
    ]
    wanted += [
        CenterEntry(
            id=street_center_id(t.id),
            name=f"{t.name} duty center",
            kind=CenterKind.STREET,
            town_id=t.id,
        )
        for t in catalog.towns
        if t.id not in have
    ]
    return [e for e in wanted if e.id not in have]


async def seed_demo(
    sessions: async_sessionmaker[AsyncSession],
    catalog: Catalog,
    now: datetime,
    *,
    robot_hosts: Collection[str] = (),
) -> list[CenterOutcome]:
    """Apply the demo's duty centers (demo_duty.yaml), one transaction per center, then a center
    with nobody yet for every other sector and town of the catalog; centers of sectors or towns
    the loaded catalog lacks are left out. Run at start and every few hours: each run publishes
    the days that are new, so someone is on duty at every moment."""
    tz = catalog.district.zone
    entries = (*demo_entries(), *catalog_centers(catalog, demo_entries()))
    skipped = [e.id for e in entries if not _in_catalog(e, catalog)]
    outcomes: list[CenterOutcome] = []
    for entry in entries:
        if entry.id in skipped:
            continue
        # Several processes may seed at once: apply_center takes the center's lock first.
        async with sessions() as session, session.begin():
            outcome = await apply_center(
                session,
                catalog=catalog,
                entry=entry,
                by=DEMO_BY,
                now=now,
                tz=tz,
                robot_hosts=robot_hosts,
            )
        outcomes.append(outcome)
        if outcome.status == "failed":
            log.warning("demo_duty_center_failed", duty_center_id=entry.id, reason=outcome.reason)
    log.info(
        "demo_duty_seeded",
        centers=len(outcomes),
        created=sum(o.status == "created" for o in outcomes),
        rosters_published=sum(o.roster == "published" for o in outcomes),
        failed=sum(o.status == "failed" for o in outcomes),
        skipped=skipped,
    )
    return outcomes
