"""The raw readings store. (device_id, metric, ts) is a reading's identity: a gateway that
resends a batch after a timeout stores and publishes nothing twice.

The table is partitioned by range of `ts`, one partition per UTC day (`reading_pYYYYMMDD`),
made ahead by the housekeeping job (partitions.py), which drops whole days past the retention.
`ts` is the partition key because it is in the identity: a resent reading finds its first copy
in the same partition, so the primary key still deduplicates. A reading whose day has no
partition (far backfill, or before the job made it) lands in `reading_default`, from which
the job moves it into its day's partition when it makes that partition.

`reading_quality_mark` keeps the hourly quality counts' progress per sector.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Index, PrimaryKeyConstraint, SmallInteger, String, text
from sqlalchemy.orm import Mapped, mapped_column

from riskwatch.ingest.models import Base


class RawReading(Base):
    __tablename__ = "reading"

    device_id: Mapped[str] = mapped_column(String(128))
    metric: Mapped[str] = mapped_column(String(64))
    ts: Mapped[datetime]
    value: Mapped[float] = mapped_column(Float)
    received_at: Mapped[datetime]
    batch_id: Mapped[str] = mapped_column(String(64))
    # Data quality flags (the contract's readings.Flag, set by readings/quality.py), a bitmask;
    # 0 when none.
    flags: Mapped[int] = mapped_column(SmallInteger, default=0, server_default=text("0"))

    __table_args__ = (
        PrimaryKeyConstraint("device_id", "metric", "ts"),
        # Flagged readings only (few): the quality counts read these, not every reading.
        Index("ix_reading_flagged", "ts", postgresql_where=text("flags <> 0")),
        # Every reading by time, a few pages per partition (rows arrive about in ts order): the
        # hourly quality count reads its hour's blocks, not its whole day's.
        Index("ix_reading_ts_brin", "ts", postgresql_using="brin"),
        {"postgresql_partition_by": "RANGE (ts)"},
    )


class ReadingQualityMark(Base):
    """How far each sector's readings were counted for the hourly quality counts
    (readings/quality_job.py): `counted_until` is the end of the last hour counted. A worker
    claims a sector's row (FOR UPDATE SKIP LOCKED), counts the next hour, stages its event in
    the outbox and moves the row on, all in one transaction: each hour is counted once."""

    __tablename__ = "reading_quality_mark"

    sector_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    counted_until: Mapped[datetime]
