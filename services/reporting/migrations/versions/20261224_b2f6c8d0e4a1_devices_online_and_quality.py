"""devices in the monthly report (issue 11): ingest's device status changes, each once, with the
devices they describe; its hourly quality counts per sector and their flagged devices

Revision ID: b2f6c8d0e4a1
Revises: 7c4e9a1b2d30
Create Date: 2026-12-24 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "b2f6c8d0e4a1"
down_revision: str | None = "7c4e9a1b2d30"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "reporting"


def upgrade() -> None:
    op.create_table(
        "device_view",
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("sector_id", sa.String(length=48), nullable=False),
        sa.Column("scenario_id", sa.String(length=48), nullable=False),
        sa.Column("town_id", sa.String(length=48), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_device_view")),
        schema=SCHEMA,
    )
    op.create_table(
        "device_status_change_view",
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("previous_status", sa.String(length=8), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sector_id", sa.String(length=48), nullable=False),
        sa.Column("scenario_id", sa.String(length=48), nullable=False),
        sa.Column("town_id", sa.String(length=48), nullable=True),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_device_status_change_view")),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_device_status_change_view_device_changed",
        "device_status_change_view",
        ["device_id", "changed_at"],
        unique=False,
        schema=SCHEMA,
    )
    op.create_table(
        "reading_quality_view",
        sa.Column("sector_id", sa.String(length=48), nullable=False),
        sa.Column("hour_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hour_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("counted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("readings", sa.BigInteger(), nullable=False),
        sa.Column("flagged", sa.BigInteger(), nullable=False),
        sa.Column("by_flag", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("devices_flagged", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("sector_id", "hour_start", name=op.f("pk_reading_quality_view")),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_reading_quality_view_hour_start",
        "reading_quality_view",
        ["hour_start"],
        unique=False,
        schema=SCHEMA,
    )
    op.create_table(
        "reading_quality_device_view",
        sa.Column("sector_id", sa.String(length=48), nullable=False),
        sa.Column("hour_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("scenario_id", sa.String(length=48), nullable=False),
        sa.Column("town_id", sa.String(length=48), nullable=True),
        sa.Column("readings", sa.BigInteger(), nullable=False),
        sa.Column("flagged", sa.BigInteger(), nullable=False),
        sa.Column("by_flag", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint(
            "sector_id", "hour_start", "device_id", name=op.f("pk_reading_quality_device_view")
        ),
        schema=SCHEMA,
    )
    op.create_index(
        "ix_reading_quality_device_view_hour_start",
        "reading_quality_device_view",
        ["hour_start"],
        unique=False,
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("reading_quality_device_view", schema=SCHEMA)
    op.drop_table("reading_quality_view", schema=SCHEMA)
    op.drop_table("device_status_change_view", schema=SCHEMA)
    op.drop_table("device_view", schema=SCHEMA)
