"""notifications carry their alarm's place (sector, town, village), for org scopes

Revision ID: a3c9e2d3e4f5
Revises: 324bc8de8437
Create Date: 2026-12-01 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a3c9e2d3e4f5"
down_revision: str | None = "324bc8de8437"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for column, length in (("sector_id", 48), ("town_id", 48), ("village_id", 64)):
        op.add_column("notification", sa.Column(column, sa.String(length=length)), schema="notify")
    op.create_index("ix_notification_town_id", "notification", ["town_id"], schema="notify")


def downgrade() -> None:
    op.drop_index("ix_notification_town_id", "notification", schema="notify")
    for column in ("village_id", "town_id", "sector_id"):
        op.drop_column("notification", column, schema="notify")
