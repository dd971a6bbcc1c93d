"""index processed events by time for pruning

Revision ID: 324bc8de8437
Revises: 76a0d82727a5
Create Date: 2026-11-22 08:46:09.873230
"""

from collections.abc import Sequence

from alembic import op

revision: str = "324bc8de8437"
down_revision: str | None = "76a0d82727a5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_processed_event_processed_at",
        "processed_event",
        ["processed_at"],
        unique=False,
        schema="notify",
    )


def downgrade() -> None:
    op.drop_index("ix_processed_event_processed_at", table_name="processed_event", schema="notify")
