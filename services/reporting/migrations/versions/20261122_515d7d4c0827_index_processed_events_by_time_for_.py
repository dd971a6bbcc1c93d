"""index processed events by time for pruning

Revision ID: 515d7d4c0827
Revises: e44011488c81
Create Date: 2026-11-22 08:46:10.200452
"""

from collections.abc import Sequence

from alembic import op

revision: str = "515d7d4c0827"
down_revision: str | None = "e44011488c81"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_processed_event_processed_at",
        "processed_event",
        ["processed_at"],
        unique=False,
        schema="reporting",
    )


def downgrade() -> None:
    op.drop_index(
        "ix_processed_event_processed_at", table_name="processed_event", schema="reporting"
    )
