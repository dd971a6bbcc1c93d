"""alarms carry their village, so village-scoped accounts can be given theirs

Revision ID: e1a7c0a1b2c3
Revises: c7e1a2b3d4f5
Create Date: 2026-12-01 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e1a7c0a1b2c3"
down_revision: str | None = "c7e1a2b3d4f5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("alarm", sa.Column("village_id", sa.String(length=64)), schema="alerting")
    op.execute("UPDATE alerting.alarm SET village_id = device->>'village_id'")
    op.create_index("ix_alarm_town_id", "alarm", ["town_id"], schema="alerting")
    op.create_index("ix_alarm_village_id", "alarm", ["village_id"], schema="alerting")


def downgrade() -> None:
    op.drop_index("ix_alarm_village_id", "alarm", schema="alerting")
    op.drop_index("ix_alarm_town_id", "alarm", schema="alerting")
    op.drop_column("alarm", "village_id", schema="alerting")
