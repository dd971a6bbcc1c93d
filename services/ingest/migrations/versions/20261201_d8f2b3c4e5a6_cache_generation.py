"""cache generation counters, so every replica's cache sees committed changes

Revision ID: d8f2b3c4e5a6
Revises: ca32971815a6
Create Date: 2026-12-01 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d8f2b3c4e5a6"
down_revision: str | None = "ca32971815a6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(sa.schema.CreateSequence(sa.Sequence("cache_generation_seq", schema="ingest")))
    op.create_table(
        "cache_generation",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_cache_generation")),
        schema="ingest",
    )


def downgrade() -> None:
    op.drop_table("cache_generation", schema="ingest")
    op.execute(sa.schema.DropSequence(sa.Sequence("cache_generation_seq", schema="ingest")))
