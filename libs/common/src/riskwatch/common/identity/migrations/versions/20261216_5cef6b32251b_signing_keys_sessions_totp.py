"""signing keys of the issuer, sessions with their refresh tokens, accounts' TOTP second factor

Revision ID: 5cef6b32251b
Revises: 9c3e5a7b1d24
Create Date: 2026-12-16 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "5cef6b32251b"
down_revision: str | None = "9c3e5a7b1d24"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "signing_key",
        sa.Column("kid", sa.String(length=64), nullable=False),
        sa.Column("private_pem", sa.Text(), nullable=False),
        sa.Column("public_jwk", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("kid", name=op.f("pk_signing_key")),
        schema="identity",
    )
    op.create_table(
        "session",
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("session_epoch", sa.Integer(), nullable=False),
        sa.Column("amr", postgresql.ARRAY(sa.String(length=16)), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("sid", name=op.f("pk_session")),
        schema="identity",
    )
    op.create_index("ix_session_username", "session", ["username"], schema="identity")
    op.create_index("ix_session_expires_at", "session", ["expires_at"], schema="identity")
    op.create_table(
        "refresh_token",
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["sid"],
            ["identity.session.sid"],
            name=op.f("fk_refresh_token_sid_session"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("hash", name=op.f("pk_refresh_token")),
        schema="identity",
    )
    op.create_index("ix_refresh_token_sid", "refresh_token", ["sid"], schema="identity")
    op.add_column(
        "account", sa.Column("totp_secret", sa.String(length=64), nullable=True), schema="identity"
    )
    op.add_column(
        "account",
        sa.Column("totp_pending_secret", sa.String(length=64), nullable=True),
        schema="identity",
    )
    op.add_column(
        "account",
        sa.Column("totp_confirmed_at", sa.DateTime(timezone=True), nullable=True),
        schema="identity",
    )
    op.add_column(
        "account", sa.Column("totp_last_step", sa.BigInteger(), nullable=True), schema="identity"
    )


def downgrade() -> None:
    op.drop_column("account", "totp_last_step", schema="identity")
    op.drop_column("account", "totp_confirmed_at", schema="identity")
    op.drop_column("account", "totp_pending_secret", schema="identity")
    op.drop_column("account", "totp_secret", schema="identity")
    op.drop_index("ix_refresh_token_sid", table_name="refresh_token", schema="identity")
    op.drop_table("refresh_token", schema="identity")
    op.drop_index("ix_session_expires_at", table_name="session", schema="identity")
    op.drop_index("ix_session_username", table_name="session", schema="identity")
    op.drop_table("session", schema="identity")
    op.drop_table("signing_key", schema="identity")
