"""alarm kind: safety or technical

Revision ID: 7b3e9d1f5a20
Revises: 2a5c8d0e3f71
Create Date: 2026-12-23 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7b3e9d1f5a20"
down_revision: str | None = "2a5c8d0e3f71"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "alarm",
        sa.Column("kind", sa.String(length=16), server_default="safety", nullable=False),
        schema="alerting",
    )


def downgrade() -> None:
    op.drop_column("alarm", "kind", schema="alerting")
