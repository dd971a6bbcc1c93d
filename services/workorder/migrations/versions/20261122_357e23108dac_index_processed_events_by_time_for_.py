"""index processed events by time for pruning

Revision ID: 357e23108dac
Revises: 488203d2ff5f
Create Date: 2026-11-22 08:46:09.077462
"""

from collections.abc import Sequence

from alembic import op

revision: str = "357e23108dac"
down_revision: str | None = "488203d2ff5f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_processed_event_processed_at",
        "processed_event",
        ["processed_at"],
        unique=False,
        schema="workorder",
    )


def downgrade() -> None:
    op.drop_index(
        "ix_processed_event_processed_at", table_name="processed_event", schema="workorder"
    )
