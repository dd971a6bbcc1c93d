"""The catalog: district, departments, sectors, scenarios, towns, villages. Data, not code."""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_SLUG = r"^[a-z0-9][a-z0-9-]{0,47}$"


class _Entry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=_SLUG)
    name: str
    name_zh: str | None = None


class District(_Entry):
    # The one source of truth for the district's time zone: months of reports, shifts of
    # rosters and deadlines are all read in it.
    timezone: str = "Asia/Shanghai"
    office: str | None = None

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        # A typo must stop the process at start, not turn requests into errors later.
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name, e.g. Asia/Shanghai)"
            ) from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Department(_Entry):
    pass


class Sector(_Entry):
    department_id: str


class Scenario(_Entry):
    sector_id: str


class Town(_Entry):
    kind: Literal["street", "town"]
    # Its bounding box (min lon, min lat, max lon, max lat, WGS 84), when the district gives
    # one: a work order's on-site location is checked against it at closure.
    bbox: tuple[float, float, float, float] | None = None

    @field_validator("bbox")
    @classmethod
    def _ordered_box(
        cls, value: tuple[float, float, float, float] | None
    ) -> tuple[float, float, float, float] | None:
        if value is not None:
            lon0, lat0, lon1, lat1 = value
            if not (-180 <= lon0 < lon1 <= 180 and -90 <= lat0 < lat1 <= 90):
                raise ValueError("bbox is [min lon, min lat, max lon, max lat] with min < max")
        return value


class SpecialZone(_Entry):
    department_id: str


class Village(_Entry):
    town_id: str


class Catalog(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    district: District
    departments: list[Department]
    sectors: list[Sector] = Field(min_length=1)
    scenarios: list[Scenario]
    towns: list[Town]
    special_zones: list[SpecialZone] = Field(default_factory=list)
    villages: list[Village] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_references(self) -> Catalog:
        for kind in ("departments", "sectors", "scenarios", "towns", "special_zones", "villages"):
            ids = [e.id for e in getattr(self, kind)]
            dupes = {i for i in ids if ids.count(i) > 1}
            if dupes:
                raise ValueError(f"duplicate {kind} ids: {sorted(dupes)}")
        departments = {d.id for d in self.departments}
        sectors = {s.id for s in self.sectors}
        towns = {t.id for t in self.towns}
        problems = [
            f"sector {s.id}: unknown department {s.department_id}"
            for s in self.sectors
            if s.department_id not in departments
        ]
        problems += [
            f"scenario {s.id}: unknown sector {s.sector_id}"
            for s in self.scenarios
            if s.sector_id not in sectors
        ]
        problems += [
            f"village {v.id}: unknown town {v.town_id}"
            for v in self.villages
            if v.town_id not in towns
        ]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def sector(self, sector_id: str) -> Sector | None:
        return next((s for s in self.sectors if s.id == sector_id), None)

    def scenario(self, scenario_id: str) -> Scenario | None:
        return next((s for s in self.scenarios if s.id == scenario_id), None)

    def town(self, town_id: str) -> Town | None:
        return next((t for t in self.towns if t.id == town_id), None)

    def village(self, village_id: str) -> Village | None:
        return next((v for v in self.villages if v.id == village_id), None)

    def sector_of_scenario(self, scenario_id: str) -> str | None:
        scenario = self.scenario(scenario_id)
        return scenario.sector_id if scenario else None

    def sector_ids(self) -> list[str]:
        return [s.id for s in self.sectors]

    def resolve_sectors(self, wanted: list[str]) -> list[str]:
        """Expand a RW_SECTORS list ("all" or ids) into catalog sector ids, refusing unknowns."""
        if "all" in wanted:
            return self.sector_ids()
        unknown = [s for s in wanted if self.sector(s) is None]
        if unknown:
            raise ValueError(f"unknown sector(s) in RW_SECTORS: {', '.join(unknown)}")
        return list(wanted)
