"""GET /api/v1/catalog: the district's catalog as loaded at start."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from riskwatch.common.access import Permission
from riskwatch.common.auth import require
from riskwatch.common.catalog import Catalog, Scenario, Sector, Town
from riskwatch.common.deps import CatalogDep

router = APIRouter(
    prefix="/api/v1/catalog",
    tags=["catalog"],
    dependencies=[Depends(require(Permission.CATALOG_READ))],
)


@router.get("", response_model=Catalog)
async def get_catalog(catalog: CatalogDep) -> Catalog:
    return catalog


@router.get("/sectors", response_model=list[Sector])
async def list_sectors(catalog: CatalogDep) -> list[Sector]:
    return catalog.sectors


@router.get("/scenarios", response_model=list[Scenario])
async def list_scenarios(catalog: CatalogDep) -> list[Scenario]:
    return catalog.scenarios


@router.get("/towns", response_model=list[Town])
async def list_towns(catalog: CatalogDep) -> list[Town]:
    return catalog.towns
