"""GET /api/v1/catalog: the district's catalog as loaded at start."""

from __future__ import annotations

from fastapi import APIRouter

from riskwatch.common.auth import PrincipalDep
from riskwatch.common.catalog import Catalog, Scenario, Sector, Town
from riskwatch.common.deps import CatalogDep

router = APIRouter(prefix="/api/v1/catalog", tags=["catalog"])


@router.get("", response_model=Catalog)
async def get_catalog(catalog: CatalogDep, _: PrincipalDep) -> Catalog:
    return catalog


@router.get("/sectors", response_model=list[Sector])
async def list_sectors(catalog: CatalogDep, _: PrincipalDep) -> list[Sector]:
    return catalog.sectors


@router.get("/scenarios", response_model=list[Scenario])
async def list_scenarios(catalog: CatalogDep, _: PrincipalDep) -> list[Scenario]:
    return catalog.scenarios


@router.get("/towns", response_model=list[Town])
async def list_towns(catalog: CatalogDep, _: PrincipalDep) -> list[Town]:
    return catalog.towns
