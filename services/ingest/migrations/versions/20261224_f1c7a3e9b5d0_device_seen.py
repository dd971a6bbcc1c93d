"""device_seen: the readings path's receipts of watched devices, folded by the watcher

Revision ID: f1c7a3e9b5d0
Revises: e5c1a7b3d9f4
Create Date: 2026-12-24 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f1c7a3e9b5d0"
down_revision: str | None = "e5c1a7b3d9f4"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_seen",
        sa.Column("seen_id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seen_id", name=op.f("pk_device_seen")),
        schema="ingest",
    )


def downgrade() -> None:
    op.drop_table("device_seen", schema="ingest")
