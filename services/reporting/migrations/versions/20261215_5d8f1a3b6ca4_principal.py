"""accounts as reporting checks tokens against them (a projection of rw.identity.accounts)

Revision ID: 5d8f1a3b6ca4
Revises: 515d7d4c0827
Create Date: 2026-12-15 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "5d8f1a3b6ca4"
down_revision: str | None = "515d7d4c0827"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "principal",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("roles", postgresql.ARRAY(sa.String(length=64)), nullable=False),
        sa.Column("scope", sa.String(length=80), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("session_epoch", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_principal")),
        schema="reporting",
    )


def downgrade() -> None:
    op.drop_table("principal", schema="reporting")
