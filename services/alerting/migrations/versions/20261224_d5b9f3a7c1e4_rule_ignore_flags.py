"""rule ignore_flags: quality flags whose readings a rule leaves aside

Revision ID: d5b9f3a7c1e4
Revises: 7b3e9d1f5a20
Create Date: 2026-12-24 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "d5b9f3a7c1e4"
down_revision: str | None = "7b3e9d1f5a20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Empty for every existing rule: they keep evaluating every reading.
    op.add_column(
        "rule",
        sa.Column(
            "ignore_flags",
            postgresql.ARRAY(sa.String(length=32)),
            server_default="{}",
            nullable=False,
        ),
        schema="alerting",
    )


def downgrade() -> None:
    op.drop_column("rule", "ignore_flags", schema="alerting")
