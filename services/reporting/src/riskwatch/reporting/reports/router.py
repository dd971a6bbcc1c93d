"""HTTP API of reports."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from riskwatch.common.access import Permission
from riskwatch.common.auth import Principal, require
from riskwatch.common.deps import CatalogDep
from riskwatch.common.errors import Forbidden, NotFound, problem_responses
from riskwatch.common.inputs import Key
from riskwatch.reporting.deps import NowDep, SnapshotSessionDep
from riskwatch.reporting.reports import service
from riskwatch.reporting.reports.schemas import AlarmTrailRead, MonthlyReportRead

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

Reader = Annotated[Principal, Depends(require(Permission.REPORTS_READ))]


@router.get("/monthly", response_model=MonthlyReportRead, responses=problem_responses(404))
async def get_monthly_report(
    caller: Reader,
    session: SnapshotSessionDep,
    catalog: CatalogDep,
    now: NowDep,
    month: Annotated[
        str,
        Query(
            max_length=16,
            description="Calendar month YYYY-MM in the district's time zone; not in the future.",
            examples=["2026-11"],
        ),
    ],
    sector_id: Key | None = None,
) -> MonthlyReportRead:
    """Alarms, work orders, notifications and duty of one month, for the district or one sector,
    and how the month's alarms were answered: reach rate (a notification delivered to a person,
    or acknowledged; a sent SMS without a delivery receipt does not count), acknowledgement
    rate, and time to acknowledge from the alarm's raise (p50 / p90 in seconds, nearest rank),
    overall, by level and by duty center; work orders' timeliness per stage, overdue share
    (超时处置占比) and false-alarm share, overall and by unit, sector and town; devices' online
    rate (time-weighted, by sector, scenario and town, the least online devices) and readings'
    quality flags (by sector, the most flagged devices). A sector-scoped caller gets its
    sector's; town and village reports are not built yet."""
    scope = caller.scope
    if scope.kind == "sector":
        if sector_id not in (None, scope.id):
            raise NotFound(f"No sector {sector_id!r} in your scope.")
        sector_id = scope.id
    elif not scope.is_district:
        raise Forbidden(f"Monthly reports cover the district or a sector, not a {scope.kind}.")
    report = await service.build_monthly_report(
        session,
        catalog=catalog,
        tz=catalog.district.zone,
        month=month,
        sector_id=sector_id,
        now=now,
    )
    return MonthlyReportRead.model_validate(report).model_copy(update={"sector_id": sector_id})


@router.get("/alarms/{alarm_id}", response_model=AlarmTrailRead)
async def get_alarm_trail(
    alarm_id: Key, caller: Reader, session: SnapshotSessionDep
) -> AlarmTrailRead:
    """One alarm across services: its view, its work orders, its notifications."""
    return AlarmTrailRead.model_validate(
        await service.get_alarm_trail(session, alarm_id=alarm_id, scope=caller.scope)
    )
