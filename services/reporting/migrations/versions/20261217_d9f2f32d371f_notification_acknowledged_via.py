"""how a notification was acknowledged (api | sms | voice), for the monthly report's channels

Rows acknowledged before the contract said how were acknowledged over the API, the only way
there was: they are filled in as such.

Revision ID: d9f2f32d371f
Revises: 237a7c1faf62
Create Date: 2026-12-17 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d9f2f32d371f"
down_revision: str | None = "237a7c1faf62"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "notification_view",
        sa.Column("acknowledged_via", sa.String(length=8), nullable=True),
        schema="reporting",
    )
    op.execute(
        "UPDATE reporting.notification_view SET acknowledged_via = 'api'"
        " WHERE acknowledged_at IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_column("notification_view", "acknowledged_via", schema="reporting")
