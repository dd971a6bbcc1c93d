"""Use cases of duty: duty centers, and who is on duty at an instant. Callers own the
transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.access import DISTRICT, Scope
from riskwatch.common.errors import NotFound
from riskwatch.common.pagination import keyset, page_of
from riskwatch.notify.duty.domain import CenterKind, DutyCenterRef, OnDutyPerson, on_duty
from riskwatch.notify.duty.models import DutyCenter, Person, Shift


async def get_duty_center_or_raise(
    session: AsyncSession, *, duty_center_id: str, scope: Scope = DISTRICT
) -> DutyCenter:
    center = await session.get(DutyCenter, duty_center_id)
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


async def candidate_centers(
    session: AsyncSession, *, sector_id: str, town_id: str | None
) -> list[DutyCenterRef]:
    """The centers an alarm of this sector and town could go to; `route()` decides which."""
    matches = [DutyCenter.kind == CenterKind.DISTRICT.value, DutyCenter.sector_id == sector_id]
    if town_id is not None:
        matches.append(DutyCenter.town_id == town_id)
    rows = await session.scalars(select(DutyCenter).where(or_(*matches)))
    return [c.ref() for c in rows]


async def on_duty_at(
    session: AsyncSession, *, duty_center_ids: Sequence[str], at: datetime
) -> dict[str, list[OnDutyPerson]]:
    """Who is on duty at `at` in each of these centers (centers with nobody are absent)."""
    if not duty_center_ids:
        return {}
    rows = await session.execute(
        select(Shift, Person)
        .join(Person, Person.person_id == Shift.person_id)
        .where(Shift.duty_center_id.in_(duty_center_ids), Shift.ends_at > at, Shift.starts_at <= at)
    )
    people: dict[str, Person] = {}
    spans_by_center = defaultdict(list)
    for shift, person in rows:
        people[person.person_id] = person
        spans_by_center[shift.duty_center_id].append(shift.span())
    # The query narrows by the index; on_duty() is the rule that decides.
    return {
        center_id: [
            OnDutyPerson(s.person_id, people[s.person_id].name, people[s.person_id].phone, s)
            for s in on_duty(spans, at)
        ]
        for center_id, spans in spans_by_center.items()
    }
