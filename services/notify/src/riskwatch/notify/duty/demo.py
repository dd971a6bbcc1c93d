"""The demo roster: duty centers from the catalog, a few made-up people, and shifts from
yesterday through the next seven days, so someone is on duty at any moment of a demo.

Idempotent (every insert is ON CONFLICT DO NOTHING on a deterministic id), so it is safe on
every start and from several processes at once; a restart on a later day adds the new days.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo

import structlog
import yaml
from pydantic import BaseModel, ConfigDict
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common.catalog import Catalog
from riskwatch.notify.duty.domain import CenterKind, demo_shifts
from riskwatch.notify.duty.models import DutyCenter, Person, Shift

log = structlog.get_logger(__name__)

DISTRICT_CENTER_ID = "district"
DAYS_BACK = 1
DAYS_AHEAD = 7


def sector_center_id(sector_id: str) -> str:
    return f"sector-{sector_id}"


def street_center_id(town_id: str) -> str:
    return f"street-{town_id}"


class DemoPerson(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    phone: str


class DemoRoster(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    people: dict[str, list[DemoPerson]]


@cache
def demo_roster() -> DemoRoster:
    text = resources.files("riskwatch.notify").joinpath("demo_roster.yaml").read_text("utf-8")
    return DemoRoster.model_validate(yaml.safe_load(text))


def demo_centers(catalog: Catalog) -> list[dict[str, object]]:
    """One district center, one per sector, one street center per town or street."""
    centers: list[dict[str, object]] = [
        {
            "duty_center_id": DISTRICT_CENTER_ID,
            "kind": CenterKind.DISTRICT.value,
            "name": f"{catalog.district.name} duty center",
            "sector_id": None,
            "town_id": None,
        }
    ]
    centers += [
        {
            "duty_center_id": sector_center_id(s.id),
            "kind": CenterKind.SECTOR.value,
            "name": f"{s.name} sub-platform duty center",
            "sector_id": s.id,
            "town_id": None,
        }
        for s in catalog.sectors
    ]
    centers += [
        {
            "duty_center_id": street_center_id(t.id),
            "kind": CenterKind.STREET.value,
            "name": f"{t.name} duty center",
            "sector_id": None,
            "town_id": t.id,
        }
        for t in catalog.towns
    ]
    return centers


def _people_of(center: dict[str, object], roster: DemoRoster) -> list[DemoPerson]:
    listed = roster.people.get(str(center["duty_center_id"]))
    if listed:
        return listed
    if center["kind"] == CenterKind.STREET.value:
        return []
    # Every sector (and the district) has someone, whichever catalog is loaded.
    return [
        DemoPerson(name=f"Duty officer {letter}", phone=f"+861000000{9000 + n:04d}")
        for n, letter in enumerate("AB")
    ]


async def seed_demo_roster(
    sessions: async_sessionmaker[AsyncSession],
    catalog: Catalog,
    now: datetime,
    *,
    timezone: str | None = None,
) -> None:
    """Insert what is missing of the demo roster; shifts are laid out in `timezone` (default:
    the catalog district's)."""
    tz = timezone or catalog.district.timezone
    first_day = now.astimezone(ZoneInfo(tz)).date() - timedelta(days=DAYS_BACK)
    roster = demo_roster()
    centers = demo_centers(catalog)
    people: list[dict[str, object]] = []
    shifts: list[dict[str, object]] = []
    for center in centers:
        center_id = str(center["duty_center_id"])
        staff: list[dict[str, object]] = [
            {
                "person_id": f"demo-{center_id}-{n}",
                "name": p.name,
                "phone": p.phone,
                "duty_center_id": center_id,
            }
            for n, p in enumerate(_people_of(center, roster), start=1)
        ]
        people += staff
        spans = demo_shifts(
            center_id,
            [str(p["person_id"]) for p in staff],
            first_day=first_day,
            days=DAYS_BACK + 1 + DAYS_AHEAD,
            timezone=tz,
        )
        shifts += [
            {
                "shift_id": s.shift_id,
                "duty_center_id": s.duty_center_id,
                "person_id": s.person_id,
                "starts_at": s.starts_at,
                "ends_at": s.ends_at,
            }
            for s in spans
        ]
    async with sessions() as session, session.begin():
        for model, rows in ((DutyCenter, centers), (Person, people), (Shift, shifts)):
            if rows:
                await session.execute(insert(model).values(rows).on_conflict_do_nothing())
    log.info(
        "demo_roster_seeded",
        duty_centers=len(centers),
        people=len(people),
        shifts=len(shifts),
        first_day=first_day.isoformat(),
    )
