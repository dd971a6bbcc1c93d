"""POST /api/v1/readings: a JSON array of {device_id, metric, value, ts}."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, status

from riskwatch.common.access import Permission
from riskwatch.common.auth import Principal, require
from riskwatch.common.deps import RuntimeDep, SessionDep
from riskwatch.common.errors import AppError, Invalid, problem_responses
from riskwatch.ingest.deps import (
    BatchSlotDep,
    DeviceCacheDep,
    IngestSettingsDep,
    SectorBudgetsDep,
)
from riskwatch.ingest.readings.schemas import BatchAccepted, ReadingError
from riskwatch.ingest.readings.service import accept_batch

PATH = "/api/v1/readings"
# Bytes of JSON one reading may take in a batch, for the body limit of this route. The longest
# valid reading (a 128-character device id, a 64-character metric, a 17-digit value, a time
# with microseconds and offset) is 300 bytes as json.dumps writes it, 325 indented; the
# simulator's and the bench's readings are about 112 (test_body_limit measures them).
READING_MAX_BYTES = 512

router = APIRouter(prefix=PATH, tags=["readings"])


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
    "",
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
