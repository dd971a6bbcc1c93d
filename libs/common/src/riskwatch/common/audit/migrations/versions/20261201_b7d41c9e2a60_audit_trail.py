"""audit trail: hash-chained records partitioned by month, checkpoints, inbox; append-only

Revision ID: b7d41c9e2a60
Revises:
Create Date: 2026-12-01 15:30:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "b7d41c9e2a60"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLE = "riskwatch_service"


def upgrade() -> None:
    op.create_table(
        "record",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("roles", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("scope", sa.Text(), nullable=True),
        sa.Column("source_address", sa.String(length=64), nullable=True),
        sa.Column("service", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("resource", sa.String(length=255), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=255), nullable=True),
        sa.Column("before_digest", sa.String(length=64), nullable=True),
        sa.Column("after_digest", sa.String(length=64), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("trace_id", sa.String(length=32), nullable=True),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", "recorded_at", name=op.f("pk_record")),
        schema="audit",
        postgresql_partition_by="RANGE (recorded_at)",
    )
    op.create_index("ix_record_actor_seq", "record", ["actor", "seq"], schema="audit")
    op.create_index("ix_record_at", "record", ["at"], schema="audit")
    op.create_table(
        "checkpoint",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("month", name=op.f("pk_checkpoint")),
        schema="audit",
    )
    op.create_table(
        "processed_event",
        sa.Column("consumer_group", sa.String(length=255), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column(
            "processed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("consumer_group", "event_id", name=op.f("pk_processed_event")),
        schema="audit",
    )
    op.create_index(
        "ix_processed_event_processed_at",
        "processed_event",
        ["processed_at"],
        unique=False,
        schema="audit",
    )

    # Append-only, whoever connects: a row trigger (cloned onto every partition, present and
    # future) refuses UPDATE and DELETE; TRUNCATE triggers are per table, so housekeeping adds
    # one to each partition it creates.
    op.execute(
        """
        CREATE FUNCTION audit.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the audit trail is append-only: % on %.% refused',
                TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME;
        END
        $$
        """
    )
    for table in ("record", "checkpoint"):
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON audit.{table} "
            "FOR EACH ROW EXECUTE FUNCTION audit.refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON audit.{table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change()"
        )
        op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON audit.{table} FROM PUBLIC")

    # The role the services' login roles are members of: it may read and append, nothing else.
    # Roles belong to the cluster, so another database's migration may have made it already.
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN
                CREATE ROLE {ROLE} NOLOGIN;
            END IF;
        EXCEPTION WHEN duplicate_object THEN
            NULL;
        END
        $$
        """
    )
    op.execute(f"GRANT USAGE ON SCHEMA audit TO {ROLE}")
    op.execute(f"GRANT SELECT, INSERT ON audit.record, audit.checkpoint TO {ROLE}")
    op.execute(f"GRANT SELECT, INSERT, DELETE ON audit.processed_event TO {ROLE}")

    # This month's and next month's partitions; housekeeping keeps two months ahead from then on.
    now = datetime.now(UTC)
    this = (now.year, now.month)
    following = (now.year + now.month // 12, now.month % 12 + 1)
    after = (following[0] + following[1] // 12, following[1] % 12 + 1)
    for (year, month), (end_year, end_month) in ((this, following), (following, after)):
        name = f"record_{year:04d}_{month:02d}"
        op.execute(
            f"CREATE TABLE IF NOT EXISTS audit.{name} PARTITION OF audit.record FOR VALUES "
            f"FROM ('{year:04d}-{month:02d}-01 00:00:00+00') "
            f"TO ('{end_year:04d}-{end_month:02d}-01 00:00:00+00')"
        )
        op.execute(f"REVOKE ALL ON audit.{name} FROM PUBLIC")
        op.execute(
            f"CREATE OR REPLACE TRIGGER {name}_no_truncate BEFORE TRUNCATE ON audit.{name} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change()"
        )


def downgrade() -> None:
    op.execute(f"REVOKE ALL ON SCHEMA audit FROM {ROLE}")
    op.drop_index("ix_processed_event_processed_at", table_name="processed_event", schema="audit")
    op.drop_table("processed_event", schema="audit")
    op.drop_table("checkpoint", schema="audit")
    op.drop_table("record", schema="audit")  # and its partitions
    op.execute("DROP FUNCTION audit.refuse_change()")
