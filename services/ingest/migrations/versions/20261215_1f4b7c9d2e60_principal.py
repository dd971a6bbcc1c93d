"""accounts as ingest checks tokens against them (a projection of rw.identity.accounts),
and the processed-event ids of ingest's first consumer

Revision ID: 1f4b7c9d2e60
Revises: b4c0f3e4f5a6
Create Date: 2026-12-15 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "1f4b7c9d2e60"
down_revision: str | None = "b4c0f3e4f5a6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "principal",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("roles", postgresql.ARRAY(sa.String(length=64)), nullable=False),
        sa.Column("scope", sa.String(length=80), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("session_epoch", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_principal")),
        schema="ingest",
    )
    op.create_table(
        "processed_event",
        sa.Column("consumer_group", sa.String(length=255), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column(
            "processed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("consumer_group", "event_id", name=op.f("pk_processed_event")),
        schema="ingest",
    )
    op.create_index(
        "ix_processed_event_processed_at",
        "processed_event",
        ["processed_at"],
        unique=False,
        schema="ingest",
    )


def downgrade() -> None:
    op.drop_index("ix_processed_event_processed_at", table_name="processed_event", schema="ingest")
    op.drop_table("processed_event", schema="ingest")
    op.drop_table("principal", schema="ingest")
