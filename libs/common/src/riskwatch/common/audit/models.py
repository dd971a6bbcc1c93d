"""Tables of the `audit` schema: the hash-chained, append-only record table (partitioned by
month of `recorded_at`), the checkpoints left by dropped partitions, and the consumer's inbox.

Append-only is enforced in the database, not here: a trigger refuses UPDATE, DELETE and
TRUNCATE, and the services' role `riskwatch_service` is granted SELECT and INSERT only (see the
migrations and ADR 0012).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Index, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from riskwatch.common.db import TYPE_ANNOTATION_MAP, UTCDateTime, service_metadata
from riskwatch.common.inbox import Inbox

SCHEMA = "audit"
SERVICE_ROLE = "riskwatch_service"


class Base(DeclarativeBase):
    metadata = service_metadata(SCHEMA)
    type_annotation_map = TYPE_ANNOTATION_MAP


class AuditRecord(Base):
    """One record of the trail. Partitioned by RANGE (recorded_at), a month per partition:
    `recorded_at` rises with `seq` (both are assigned under the chain's lock), so a partition
    holds a contiguous run of the chain and dropping the oldest leaves a chain that verifies
    from its checkpoint."""

    __tablename__ = "record"
    __table_args__ = (
        Index("ix_record_actor_seq", "actor", "seq"),
        Index("ix_record_at", "at"),
        {"postgresql_partition_by": "RANGE (recorded_at)"},
    )

    # Gapless global order: the previous row's seq + 1, assigned under the chain's lock (a
    # sequence would leave gaps on rollback, which verification could not tell from deletions).
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))
    roles: Mapped[list[str]] = mapped_column(ARRAY(Text))
    scope: Mapped[str | None] = mapped_column(Text)
    source_address: Mapped[str | None] = mapped_column(String(64))
    service: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    resource: Mapped[str | None] = mapped_column(String(255))
    outcome: Mapped[str] = mapped_column(String(16))
    status: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(String(255))
    before_digest: Mapped[str | None] = mapped_column(String(64))
    after_digest: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(128))
    trace_id: Mapped[str | None] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(64))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class Checkpoint(Base):
    """Where the chain resumes after the partition of `month` was dropped: its first row
    left is `first_seq`, linked to `prev_hash` (the hash of the dropped month's last row)."""

    __tablename__ = "checkpoint"

    month: Mapped[date] = mapped_column(primary_key=True)
    first_seq: Mapped[int] = mapped_column(BigInteger)
    prev_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), server_default=func.now())


inbox = Inbox(Base.metadata)
