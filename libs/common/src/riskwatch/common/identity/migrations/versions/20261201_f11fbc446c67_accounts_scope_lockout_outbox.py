"""accounts: scope, phone, disabled, forced password change, session epoch; login failures;
the outbox of identity's audit records

Revision ID: f11fbc446c67
Revises: 5723d75f55ee
Create Date: 2026-12-01 15:25:21.322994
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "f11fbc446c67"
down_revision: str | None = "5723d75f55ee"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_failure",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failure")),
        schema="identity",
    )
    op.create_index("ix_login_failure_at", "login_failure", ["at"], unique=False, schema="identity")
    op.create_index(
        "ix_login_failure_kind_key_at",
        "login_failure",
        ["kind", "key", "at"],
        unique=False,
        schema="identity",
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.String(length=255), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=True),
        sa.Column("headers", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        schema="identity",
    )
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["id"],
        unique=False,
        schema="identity",
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.add_column(
        "account", sa.Column("phone", sa.String(length=32), nullable=True), schema="identity"
    )
    op.add_column(
        "account",
        sa.Column(
            "scope", sa.String(length=80), server_default=sa.text("'district'"), nullable=False
        ),
        schema="identity",
    )
    op.add_column(
        "account", sa.Column("sector_id", sa.String(length=64), nullable=True), schema="identity"
    )
    op.add_column(
        "account", sa.Column("town_id", sa.String(length=64), nullable=True), schema="identity"
    )
    op.add_column(
        "account", sa.Column("village_id", sa.String(length=64), nullable=True), schema="identity"
    )
    op.add_column(
        "account",
        sa.Column("disabled", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        schema="identity",
    )
    op.add_column(
        "account",
        sa.Column(
            "must_change_password", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        schema="identity",
    )
    op.add_column(
        "account",
        sa.Column("session_epoch", sa.Integer(), server_default=sa.text("0"), nullable=False),
        schema="identity",
    )
    op.add_column(
        "account", sa.Column("created_by", sa.String(length=64), nullable=True), schema="identity"
    )
    op.add_column(
        "account",
        sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True),
        schema="identity",
    )
    op.create_index(
        "ix_account_created_at_username",
        "account",
        ["created_at", "username"],
        unique=False,
        schema="identity",
    )
    op.create_index(
        "ix_account_sector_id", "account", ["sector_id"], unique=False, schema="identity"
    )
    op.create_index("ix_account_town_id", "account", ["town_id"], unique=False, schema="identity")
    op.create_index(
        "ix_account_village_id", "account", ["village_id"], unique=False, schema="identity"
    )
    op.execute("UPDATE identity.account SET disabled = NOT active")
    # The first issuer had one role, "admin": the district's system administrator now.
    op.execute("UPDATE identity.account SET roles = array_replace(roles, 'admin', 'system_admin')")
    op.drop_column("account", "active", schema="identity")


def downgrade() -> None:
    op.add_column(
        "account",
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        schema="identity",
    )
    op.execute("UPDATE identity.account SET active = NOT disabled")
    op.execute("UPDATE identity.account SET roles = array_replace(roles, 'system_admin', 'admin')")
    op.alter_column("account", "active", server_default=None, schema="identity")
    op.drop_index("ix_account_village_id", table_name="account", schema="identity")
    op.drop_index("ix_account_town_id", table_name="account", schema="identity")
    op.drop_index("ix_account_sector_id", table_name="account", schema="identity")
    op.drop_index("ix_account_created_at_username", table_name="account", schema="identity")
    op.drop_column("account", "password_changed_at", schema="identity")
    op.drop_column("account", "created_by", schema="identity")
    op.drop_column("account", "session_epoch", schema="identity")
    op.drop_column("account", "must_change_password", schema="identity")
    op.drop_column("account", "disabled", schema="identity")
    op.drop_column("account", "village_id", schema="identity")
    op.drop_column("account", "town_id", schema="identity")
    op.drop_column("account", "sector_id", schema="identity")
    op.drop_column("account", "scope", schema="identity")
    op.drop_column("account", "phone", schema="identity")
    op.drop_index(
        "ix_outbox_unpublished",
        table_name="outbox",
        schema="identity",
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.drop_table("outbox", schema="identity")
    op.drop_index("ix_login_failure_kind_key_at", table_name="login_failure", schema="identity")
    op.drop_index("ix_login_failure_at", table_name="login_failure", schema="identity")
    op.drop_table("login_failure", schema="identity")
