"""The migration that partitions the raw store keeps the readings already there: the old
table becomes one partition up to the day after its newest reading, housekeeping leaves it
alone until its days pass the retention, and the downgrade puts every reading back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from riskwatch.common.cli import IDENTITY_MIGRATIONS
from riskwatch.common.migrate import alembic_config, upgrade
from riskwatch.common.testing import engine_for, migrate
from riskwatch.ingest.module import MIGRATIONS
from riskwatch.ingest.readings.partitions import keep_partitions, partitions

BEFORE = "f6d2b8c4e0a5"  # the revision before e5c1a7b3d9f4


async def test_existing_readings_are_kept_as_one_partition(
    make_database: Callable[[str], str],
) -> None:
    url = make_database("ingest_partition_migration")
    await migrate(url, [IDENTITY_MIGRATIONS])
    await asyncio.to_thread(upgrade, MIGRATIONS, url, BEFORE)
    now = datetime.now(UTC).replace(microsecond=0)
    engine = engine_for(url)
    try:
        async with engine.begin() as conn:
            for days in (0, 3, 500):
                ts = now - timedelta(days=days)
                await conn.execute(
                    text(
                        "INSERT INTO ingest.reading "
                        "(device_id, metric, ts, value, received_at, batch_id) "
                        "VALUES ('d', 'm', :ts, :v, :ts, 'b')"
                    ),
                    {"ts": ts, "v": float(days)},
                )
        await asyncio.to_thread(upgrade, MIGRATIONS, url, "head")
        until = now.date() + timedelta(days=1)
        async with engine.begin() as conn:
            where = await conn.execute(
                text("SELECT tableoid::regclass::text, value, flags FROM ingest.reading")
            )
            assert sorted(tuple(row) for row in where) == [
                (f"ingest.reading_upto_{until:%Y%m%d}", v, 0) for v in (0.0, 3.0, 500.0)
            ]
        async with AsyncSession(bind=engine) as session, session.begin():
            done = await keep_partitions(
                session, today=now.date(), ahead_days=3, retention_days=400
            )
            # Its last day is within the retention: kept whole, old reading and all.
            assert done.dropped == []
            assert done.created == [now.date() + timedelta(days=n) for n in (1, 2, 3)]
            later = await keep_partitions(
                session, today=until + timedelta(days=400), ahead_days=1, retention_days=400
            )
            assert f"reading_upto_{until:%Y%m%d}" in later.dropped
            assert (await partitions(session)).legacy is None
            await session.rollback()
        await asyncio.to_thread(_downgrade, url)
        async with engine.begin() as conn:
            count = await conn.scalar(text("SELECT count(*) FROM ingest.reading"))
            assert count == 3
    finally:
        await engine.dispose()


def _downgrade(url: str) -> None:
    command.downgrade(alembic_config(MIGRATIONS, url), BEFORE)
