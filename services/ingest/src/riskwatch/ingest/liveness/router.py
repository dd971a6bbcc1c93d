"""HTTP API of liveness: the online rate."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from riskwatch.common.access import Permission
from riskwatch.common.auth import Principal, require
from riskwatch.common.deps import ReadSessionDep
from riskwatch.common.errors import Invalid, problem_responses
from riskwatch.common.uptime import Uptime, total
from riskwatch.ingest.liveness import service
from riskwatch.ingest.liveness.schemas import RATE_DEFINITION, OnlineRate, OnlineRateReport

router = APIRouter(prefix="/api/v1/devices", tags=["devices"])
Reader = Annotated[Principal, Depends(require(Permission.DEVICES_READ))]


def utc_now() -> datetime:
    """The clock of the rate (a dependency: tests override it)."""
    return datetime.now(UTC)


NowDep = Annotated[datetime, Depends(utc_now)]


def _item(key: str | None, devices: int, part: Uptime) -> OnlineRate:
    return OnlineRate(
        key=key, devices=devices, online_s=part.online_s, observed_s=part.observed_s, rate=part.rate
    )


@router.get(
    "/online-rate",
    response_model=OnlineRateReport,
    response_model_by_alias=True,
    description=RATE_DEFINITION,
    responses=problem_responses(422),
)
async def get_online_rate(
    session: ReadSessionDep,
    caller: Reader,
    now: NowDep,
    from_: Annotated[datetime, Query(alias="from", description="Start, inclusive (with zone)")],
    to: Annotated[datetime, Query(description="End, exclusive (with zone)")],
    group_by: service.GroupBy = "device",
) -> OnlineRateReport:
    if from_.tzinfo is None or to.tzinfo is None:
        raise Invalid("from and to need a time zone (e.g. 2026-12-01T00:00:00+08:00).")
    if to <= from_:
        raise Invalid("to must be after from.")
    groups = await service.online_rate(
        session,
        start=from_,
        end=to,
        now=now,
        group_by=group_by,
        scope=caller.scope,
    )
    return OnlineRateReport(
        from_=from_,
        to=to,
        group_by=group_by,
        items=[_item(g.key, g.devices, g.uptime) for g in groups],
        total=_item(None, sum(g.devices for g in groups), total([g.uptime for g in groups])),
    )
