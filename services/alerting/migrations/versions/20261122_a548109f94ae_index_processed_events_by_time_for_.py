"""index processed events by time for pruning

Revision ID: a548109f94ae
Revises: b4dd3a48556c
Create Date: 2026-11-22 08:46:08.553492
"""

from collections.abc import Sequence

from alembic import op

revision: str = "a548109f94ae"
down_revision: str | None = "b4dd3a48556c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_processed_event_processed_at",
        "processed_event",
        ["processed_at"],
        unique=False,
        schema="alerting",
    )


def downgrade() -> None:
    op.drop_index(
        "ix_processed_event_processed_at", table_name="processed_event", schema="alerting"
    )
