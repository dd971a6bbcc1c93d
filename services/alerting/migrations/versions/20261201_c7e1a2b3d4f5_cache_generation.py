"""cache generation counters, so every replica's cache sees committed changes

Revision ID: c7e1a2b3d4f5
Revises: a548109f94ae
Create Date: 2026-12-01 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c7e1a2b3d4f5"
down_revision: str | None = "a548109f94ae"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(sa.schema.CreateSequence(sa.Sequence("cache_generation_seq", schema="alerting")))
    op.create_table(
        "cache_generation",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_cache_generation")),
        schema="alerting",
    )


def downgrade() -> None:
    op.drop_table("cache_generation", schema="alerting")
    op.execute(sa.schema.DropSequence(sa.Sequence("cache_generation_seq", schema="alerting")))
