"""devices and raw readings

Revision ID: ca32971815a6
Revises:
Create Date: 2026-11-22 07:57:54.681447
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "ca32971815a6"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device",
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("sector_id", sa.String(length=48), nullable=False),
        sa.Column("scenario_id", sa.String(length=48), nullable=False),
        sa.Column("town_id", sa.String(length=48), nullable=True),
        sa.Column("village_id", sa.String(length=64), nullable=True),
        sa.Column("site", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_device")),
        schema="ingest",
    )
    op.create_index(
        "ix_device_scenario_id", "device", ["scenario_id"], unique=False, schema="ingest"
    )
    op.create_table(
        "reading",
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("batch_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("device_id", "metric", "ts", name=op.f("pk_reading")),
        schema="ingest",
    )


def downgrade() -> None:
    op.drop_table("reading", schema="ingest")
    op.drop_index("ix_device_scenario_id", table_name="device", schema="ingest")
    op.drop_table("device", schema="ingest")
