"""accounts as alerting checks tokens against them (a projection of rw.identity.accounts)

Revision ID: 2a5c8d0e3f71
Revises: e1a7c0a1b2c3
Create Date: 2026-12-15 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "2a5c8d0e3f71"
down_revision: str | None = "e1a7c0a1b2c3"
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
        schema="alerting",
    )


def downgrade() -> None:
    op.drop_table("principal", schema="alerting")
