"""work orders carry their village, so village-scoped accounts can be given theirs

Revision ID: f2b8d1c2d3e4
Revises: 357e23108dac
Create Date: 2026-12-01 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f2b8d1c2d3e4"
down_revision: str | None = "357e23108dac"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("work_order", sa.Column("village_id", sa.String(length=64)), schema="workorder")
    op.create_index("ix_work_order_town_id", "work_order", ["town_id"], schema="workorder")


def downgrade() -> None:
    op.drop_index("ix_work_order_town_id", "work_order", schema="workorder")
    op.drop_column("work_order", "village_id", schema="workorder")
