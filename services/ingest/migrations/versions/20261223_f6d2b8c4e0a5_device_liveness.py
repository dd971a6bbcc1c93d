"""device liveness and status history

Revision ID: f6d2b8c4e0a5
Revises: c3a9e5f1b7d2
Create Date: 2026-12-23 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f6d2b8c4e0a5"
down_revision: str | None = "c3a9e5f1b7d2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_liveness",
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("sector_id", sa.String(length=48), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("status_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("offline_after_s", sa.Integer(), nullable=False),
        sa.Column("overdue_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('online', 'offline')", name=op.f("ck_device_liveness_status")
        ),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_device_liveness")),
        schema="ingest",
    )
    op.create_index(
        "ix_device_liveness_online_overdue_at",
        "device_liveness",
        ["overdue_at"],
        unique=False,
        schema="ingest",
        postgresql_where=sa.text("status = 'online'"),
    )
    op.create_table(
        "device_status_period",
        sa.Column("period_id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("from_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("to_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('online', 'offline')", name=op.f("ck_device_status_period_status")
        ),
        sa.CheckConstraint(
            "to_at IS NULL OR to_at >= from_at", name=op.f("ck_device_status_period_ordered")
        ),
        sa.PrimaryKeyConstraint("period_id", name=op.f("pk_device_status_period")),
        schema="ingest",
    )
    op.create_index(
        "ix_device_status_period_device_from",
        "device_status_period",
        ["device_id", "from_at"],
        unique=False,
        schema="ingest",
    )
    op.create_index(
        "uq_device_status_period_open",
        "device_status_period",
        ["device_id"],
        unique=True,
        schema="ingest",
        postgresql_where=sa.text("to_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("device_status_period", schema="ingest")
    op.drop_table("device_liveness", schema="ingest")
