"""hourly quality counts: each sector's progress, and a BRIN index of the raw store by time

The BRIN index lets the hourly count read its hour's blocks of a day's partition (rows arrive
about in ts order); on the partitioned table it is built on every partition, and each partition
made later gets it when attached.

Revision ID: a7d3f9b1c5e2
Revises: f1c7a3e9b5d0
Create Date: 2026-12-24 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a7d3f9b1c5e2"
down_revision: str | None = "f1c7a3e9b5d0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reading_quality_mark",
        sa.Column("sector_id", sa.String(length=48), nullable=False),
        sa.Column("counted_until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sector_id", name=op.f("pk_reading_quality_mark")),
        schema="ingest",
    )
    op.create_index(
        "ix_reading_ts_brin", "reading", ["ts"], schema="ingest", postgresql_using="brin"
    )


def downgrade() -> None:
    op.drop_index("ix_reading_ts_brin", table_name="reading", schema="ingest")
    op.drop_table("reading_quality_mark", schema="ingest")
