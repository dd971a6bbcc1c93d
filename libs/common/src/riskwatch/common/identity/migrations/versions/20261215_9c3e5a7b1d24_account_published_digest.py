"""accounts: the digest of the last snapshot published on rw.identity.accounts

Revision ID: 9c3e5a7b1d24
Revises: f11fbc446c67
Create Date: 2026-12-15 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9c3e5a7b1d24"
down_revision: str | None = "f11fbc446c67"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # NULL for every existing account: the issuer publishes them all at its next start.
    op.add_column(
        "account",
        sa.Column("published_digest", sa.String(length=64), nullable=True),
        schema="identity",
    )


def downgrade() -> None:
    op.drop_column("account", "published_digest", schema="identity")
