"""roster versions and first publication; whether a check-in was late and through what

Rows projected before rosters had versions become version 0, first published when last
published: any real publication (version 1 and up) replaces them.

Revision ID: 237a7c1faf62
Revises: 5d8f1a3b6ca4
Create Date: 2026-12-16 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "237a7c1faf62"
down_revision: str | None = "5d8f1a3b6ca4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "roster_view", sa.Column("version", sa.Integer(), nullable=True), schema="reporting"
    )
    op.add_column(
        "roster_view",
        sa.Column("first_published_at", sa.DateTime(timezone=True), nullable=True),
        schema="reporting",
    )
    op.execute("UPDATE reporting.roster_view SET version = 0, first_published_at = published_at")
    op.alter_column("roster_view", "version", nullable=False, schema="reporting")
    op.alter_column("roster_view", "first_published_at", nullable=False, schema="reporting")
    op.add_column(
        "duty_shift_view",
        sa.Column("checked_in_late", sa.Boolean(), nullable=True),
        schema="reporting",
    )
    op.add_column(
        "duty_shift_view",
        sa.Column("checked_in_via", sa.String(length=8), nullable=True),
        schema="reporting",
    )
    op.create_index(
        "ix_duty_shift_view_roster_id",
        "duty_shift_view",
        ["roster_id"],
        unique=False,
        schema="reporting",
    )


def downgrade() -> None:
    op.drop_index("ix_duty_shift_view_roster_id", table_name="duty_shift_view", schema="reporting")
    op.drop_column("duty_shift_view", "checked_in_via", schema="reporting")
    op.drop_column("duty_shift_view", "checked_in_late", schema="reporting")
    op.drop_column("roster_view", "first_published_at", schema="reporting")
    op.drop_column("roster_view", "version", schema="reporting")
