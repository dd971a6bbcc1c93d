"""raw readings: data quality flags, partitioned by day of ts

The existing table is not copied: it becomes the partition `reading_upto_YYYYMMDD` holding
everything before the day after its newest reading (attaching it scans it to check that, and
builds the flagged-readings index on it); an empty one is dropped. New days get their own
partitions from the housekeeping job (readings/partitions.py); `reading_default` takes a
reading whose day has none yet.

Revision ID: e5c1a7b3d9f4
Revises: f6d2b8c4e0a5 (c3a9e5f1b7d2 without the liveness revision)
Create Date: 2026-12-23 10:00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "e5c1a7b3d9f4"
down_revision: str | None = "f6d2b8c4e0a5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = "device_id, metric, ts, value, received_at, batch_id, flags"


def upgrade() -> None:
    conn = op.get_bind()
    op.execute("ALTER TABLE ingest.reading ADD COLUMN flags smallint NOT NULL DEFAULT 0")
    op.execute("ALTER TABLE ingest.reading RENAME CONSTRAINT pk_reading TO pk_reading_old")
    op.execute("ALTER TABLE ingest.reading RENAME TO reading_old")
    op.execute(
        """
        CREATE TABLE ingest.reading (
            device_id varchar(128) NOT NULL,
            metric varchar(64) NOT NULL,
            ts timestamptz NOT NULL,
            value float8 NOT NULL,
            received_at timestamptz NOT NULL,
            batch_id varchar(64) NOT NULL,
            flags smallint NOT NULL DEFAULT 0,
            CONSTRAINT pk_reading PRIMARY KEY (device_id, metric, ts)
        ) PARTITION BY RANGE (ts)
        """
    )
    op.execute("CREATE INDEX ix_reading_flagged ON ingest.reading (ts) WHERE flags <> 0")
    op.execute("CREATE TABLE ingest.reading_default PARTITION OF ingest.reading DEFAULT")
    newest = conn.execute(sa.text("SELECT max(ts) FROM ingest.reading_old")).scalar()
    if newest is None:
        op.execute("DROP TABLE ingest.reading_old")
        return
    until = newest.astimezone(UTC).date() + timedelta(days=1)
    name = f"reading_upto_{until:%Y%m%d}"
    bound = datetime.combine(until, time(), tzinfo=UTC).isoformat()
    op.execute(f"ALTER TABLE ingest.reading_old RENAME CONSTRAINT pk_reading_old TO pk_{name}")
    op.execute(f"ALTER TABLE ingest.reading_old RENAME TO {name}")
    op.execute(
        f"ALTER TABLE ingest.reading ATTACH PARTITION ingest.{name} "
        f"FOR VALUES FROM (MINVALUE) TO ('{bound}')"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE ingest.reading RENAME TO reading_partitioned")
    op.execute(
        "ALTER TABLE ingest.reading_partitioned RENAME CONSTRAINT pk_reading TO pk_reading_partitioned"
    )
    op.execute(
        """
        CREATE TABLE ingest.reading (
            device_id varchar(128) NOT NULL,
            metric varchar(64) NOT NULL,
            ts timestamptz NOT NULL,
            value float8 NOT NULL,
            received_at timestamptz NOT NULL,
            batch_id varchar(64) NOT NULL,
            CONSTRAINT pk_reading PRIMARY KEY (device_id, metric, ts)
        )
        """
    )
    op.execute(
        "INSERT INTO ingest.reading (device_id, metric, ts, value, received_at, batch_id) "
        "SELECT device_id, metric, ts, value, received_at, batch_id "
        "FROM ingest.reading_partitioned"
    )
    op.execute("DROP TABLE ingest.reading_partitioned")  # and its partitions
