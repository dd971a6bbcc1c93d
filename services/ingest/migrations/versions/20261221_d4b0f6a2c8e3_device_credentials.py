"""devices' MQTT credentials (hashed)

Revision ID: d4b0f6a2c8e3
Revises: 1f4b7c9d2e60
Create Date: 2026-12-21 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d4b0f6a2c8e3"
down_revision: str | None = "1f4b7c9d2e60"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_credential",
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["ingest.device.device_id"],
            name=op.f("fk_device_credential_device_id_device"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_device_credential")),
        schema="ingest",
    )


def downgrade() -> None:
    op.drop_table("device_credential", schema="ingest")
