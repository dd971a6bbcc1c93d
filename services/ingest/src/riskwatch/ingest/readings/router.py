"""POST /api/v1/readings: a JSON array of {device_id, metric, value, ts}; and the raw store
read back: a device's series in buckets, its latest readings, counts of flagged readings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, status

from riskwatch.common.access import Permission
from riskwatch.common.auth import Principal, require
from riskwatch.common.deps import ReadSessionDep, RuntimeDep, SessionDep
from riskwatch.common.errors import AppError, Invalid, problem_responses
from riskwatch.common.pagination import MAX_LIMIT
from riskwatch.ingest.deps import (
    BatchSlotDep,
    DeviceCacheDep,
    IngestSettingsDep,
    SectorBudgetsDep,
)
from riskwatch.ingest.devices.schemas import DEVICE_ID_PATTERN, METRIC_PATTERN
from riskwatch.ingest.devices.service import get_device_or_raise
from riskwatch.ingest.readings import store
from riskwatch.ingest.readings.deps import QualityDep
from riskwatch.ingest.readings.quality import flag_names
from riskwatch.ingest.readings.schemas import (
    BatchAccepted,
    LatestRead,
    LatestReadingRead,
    QualityGroupRead,
    QualityRead,
    ReadingError,
    SeriesBucketRead,
    SeriesRead,
)
from riskwatch.ingest.readings.service import accept_batch

PATH = "/api/v1/readings"
# Bytes of JSON one reading may take in a batch, for the body limit of this route. The longest
# valid reading (a 128-character device id, a 64-character metric, a 17-digit value, a time
# with microseconds and offset) is 300 bytes as json.dumps writes it, 325 indented; the
# simulator's and the bench's readings are about 112 (test_body_limit measures them).
READING_MAX_BYTES = 512

router = APIRouter(tags=["readings"])
Reader = Annotated[Principal, Depends(require(Permission.DEVICES_READ))]
DeviceId = Annotated[str, Path(pattern=DEVICE_ID_PATTERN)]
From = Annotated[datetime | None, Query(alias="from", description="Default: `to` - 1 day")]
To = Annotated[datetime | None, Query(description="Exclusive; default: now")]


def max_body_bytes(max_batch_items: int) -> int:
    """The largest body a batch of `max_batch_items` readings may need; beyond it, 413."""
    return max_batch_items * READING_MAX_BYTES


class BatchTooLarge(AppError):
    status = 413
    code = "batch-too-large"
    title = "Batch too large"


class NothingAccepted(Invalid):
    code = "no-reading-accepted"
    title = "No reading in the batch was accepted"


@router.post(
    PATH,
    response_model=BatchAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(
        413,
        422,
        429,
        descriptions={
            413: "More items than RW_MAX_BATCH_ITEMS, or a body larger than they could take "
            "(RW_MAX_BATCH_ITEMS x 512 bytes)",
            422: "Not a JSON array, an empty one, or no item was accepted (`errors` says why "
            "for each)",
            429: "Too many batches in progress here (RW_MAX_CONCURRENT_BATCHES), or a sector "
            "of these readings has spent its budget (RW_SECTOR_READINGS_PER_S): nothing was "
            "stored; send them again after Retry-After seconds",
            503: "The database or the event bus did not take the batch in time "
            "(RW_PUBLISH_TIMEOUT_S): nothing was stored; send it again after Retry-After "
            "seconds",
        },
    ),
)
async def post_readings(
    _slot: BatchSlotDep,  # first: refused before a database connection is taken
    settings: IngestSettingsDep,
    items: Annotated[list[Any], Body(description="Readings: {device_id, metric, value, ts}")],
    session: SessionDep,
    runtime: RuntimeDep,
    devices: DeviceCacheDep,
    budgets: SectorBudgetsDep,
    quality: QualityDep,
    # Not audited: reading batches are telemetry, and the raw store keeps each batch's id.
    caller: Annotated[Principal, Depends(require(Permission.READINGS_WRITE, audited=False))],
) -> BatchAccepted:
    """Accept a batch of readings. Each item is checked on its own: a bad one is rejected with
    its index and reason and the others are accepted (202). Resent readings (same device,
    metric and ts) are counted as duplicates and not published twice."""
    if not items:
        raise Invalid("The batch is empty.")
    if len(items) > settings.max_batch_items:
        raise BatchTooLarge(
            f"{len(items)} items; at most {settings.max_batch_items} per request.",
            max_items=settings.max_batch_items,
        )
    result = await accept_batch(
        session,
        bus=runtime.bus,
        devices=devices,
        budgets=budgets,
        items=items,
        serves=lambda sector: settings.serves_all_sectors() or sector in settings.sectors,
        future_tolerance=timedelta(seconds=settings.future_tolerance_s),
        publish_timeout_s=settings.publish_timeout_s,
        scope=caller.scope,
        quality=quality,
    )
    errors = [
        ReadingError(index=r.index, reason=r.reason.value, detail=r.detail) for r in result.rejected
    ]
    if result.accepted == 0:
        raise NothingAccepted(
            f"All {len(items)} item(s) were rejected.",
            errors=[e.model_dump() for e in errors],
        )
    return BatchAccepted(
        batch_id=result.batch_id,
        accepted=result.accepted,
        duplicates=result.duplicates,
        rejected=len(errors),
        errors=errors,
    )


def _range(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    until = until or datetime.now(UTC)
    if until.tzinfo is None or (since is not None and since.tzinfo is None):
        raise Invalid("`from` and `to` need a UTC offset.", field="from")
    return (since or until - timedelta(days=1)), until


@router.get(
    "/api/v1/devices/{device_id}/series",
    response_model=SeriesRead,
    responses=problem_responses(404, 422),
)
async def get_series(
    device_id: DeviceId,
    session: ReadSessionDep,
    caller: Reader,
    metric: Annotated[str, Query(pattern=METRIC_PATTERN)],
    bucket: store.Bucket = "1h",
    since: From = None,
    until: To = None,
    exclude_flagged: bool = False,
) -> SeriesRead:
    """min, max, avg and count of a metric's readings per bucket of [from, to), and how many of
    them carry a data quality flag; buckets without readings are left out. At most 1,500
    buckets. `exclude_flagged` leaves flagged readings out of the figures."""
    await get_device_or_raise(session, device_id=device_id, scope=caller.scope)
    since, until = _range(since, until)
    buckets = await store.series(
        session,
        device_id=device_id,
        metric=metric,
        since=since,
        until=until,
        bucket=bucket,
        exclude_flagged=exclude_flagged,
    )
    return SeriesRead(
        device_id=device_id,
        metric=metric,
        bucket=bucket,
        from_=since,
        to=until,
        buckets=[
            SeriesBucketRead(
                start=b.start, min=b.min, max=b.max, avg=b.avg, count=b.count, flagged=b.flagged
            )
            for b in buckets
        ],
    )


@router.get(
    "/api/v1/devices/{device_id}/latest",
    response_model=LatestRead,
    responses=problem_responses(404),
)
async def get_latest(
    device_id: DeviceId,
    session: ReadSessionDep,
    caller: Reader,
    days: Annotated[int, Query(ge=1, le=400, description="How far back to look")] = 7,
) -> LatestRead:
    """The newest reading of each metric the device sent in the last `days` days, with its
    data quality flags."""
    await get_device_or_raise(session, device_id=device_id, scope=caller.scope)
    rows = await store.latest(
        session, device_id=device_id, since=datetime.now(UTC) - timedelta(days=days)
    )
    return LatestRead(
        device_id=device_id,
        metrics=[
            LatestReadingRead(
                metric=r.metric,
                value=r.value,
                ts=r.ts,
                received_at=r.received_at,
                flags=flag_names(r.flags),
            )
            for r in rows
        ],
    )


@router.get("/api/v1/quality", response_model=QualityRead, responses=problem_responses(422))
async def get_quality(
    session: ReadSessionDep,
    caller: Reader,
    group_by: Literal["device", "sector"] = "sector",
    since: From = None,
    until: To = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = MAX_LIMIT,
) -> QualityRead:
    """Readings of [from, to) with data quality flags, per device or sector (within the
    caller's scope) and per flag: out_of_range, late, stuck, spike, gap (a reading may have
    several). At most 93 days."""
    since, until = _range(since, until)
    groups = await store.flag_counts(
        session, since=since, until=until, group_by=group_by, scope=caller.scope, limit=limit
    )
    return QualityRead(
        from_=since,
        to=until,
        group_by=group_by,
        items=[QualityGroupRead(key=g.key, flagged=g.flagged, **g.counts) for g in groups],
    )
