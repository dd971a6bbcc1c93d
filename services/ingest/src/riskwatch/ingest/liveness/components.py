"""Liveness's background part: the watcher that folds the readings path's receipts and marks
overdue devices offline (ADR 0021)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from riskwatch.common.app import Named, Runtime
from riskwatch.common.periodic import Periodic
from riskwatch.ingest.liveness.service import OVERDUE_BATCH, SEEN_BATCH, fold_seen, mark_overdue
from riskwatch.ingest.liveness.settings import LivenessSettings

GROUP = "ingest-liveness"
Clock = Callable[[], datetime]
# One watcher works at a time across replicas (pg_try_advisory_xact_lock's key): folding
# receipts and marking the overdue in one transaction, a device's receipt can never be folded
# by one replica while another marks the device offline.
WATCHER_LOCK = 0x72775F6C6976  # "rw_liv"


def _utc_now() -> datetime:
    return datetime.now(UTC)


async def watch_once(
    sessions: async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    limit: int = OVERDUE_BATCH,
    seen_limit: int = SEEN_BATCH,
) -> int:
    """One round of the watcher: fold the readings path's receipts, then mark every overdue
    device offline, `seen_limit` receipts and `limit` devices per transaction. Returns the
    status changes staged; 0 at once when another replica's watcher is at work."""
    changed = 0
    while True:
        async with sessions() as session, session.begin():
            if not await session.scalar(
                text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": WATCHER_LOCK}
            ):
                return changed
            taken, came = await fold_seen(session, limit=seen_limit)
            went = await mark_overdue(session, now=now, limit=limit)
        changed += len(came) + len(went)
        if taken < seen_limit and len(went) < limit:
            return changed


def liveness_components(
    runtime: Runtime,
    settings: LivenessSettings,
    *,
    clock: Clock = _utc_now,
) -> list[Named]:
    """The watcher (receipts come from the readings path itself: readings/service.py)."""

    async def watch() -> None:
        await watch_once(runtime.sessions, now=clock())

    return [
        Named(
            "worker",
            f"{GROUP}-watcher",
            Periodic(f"{GROUP}-watcher", watch, interval_s=settings.watch_interval_s),
        )
    ]
