"""work orders history outbox

Revision ID: 488203d2ff5f
Revises:
Create Date: 2026-11-22 08:12:47.933836
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "488203d2ff5f"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
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
        schema="workorder",
    )
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["id"],
        unique=False,
        schema="workorder",
        postgresql_where=sa.text("published_at IS NULL"),
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
        schema="workorder",
    )
    op.create_table(
        "work_order",
        sa.Column("work_order_id", sa.String(length=64), nullable=False),
        sa.Column("alarm_id", sa.String(length=64), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("sector_id", sa.String(length=48), nullable=False),
        sa.Column("scenario_id", sa.String(length=48), nullable=False),
        sa.Column("town_id", sa.String(length=48), nullable=True),
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("accepted_by", sa.String(length=255), nullable=True),
        sa.Column("disposed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disposed_by", sa.String(length=255), nullable=True),
        sa.Column("disposal_note", sa.Text(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=255), nullable=True),
        sa.Column("feedback", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "level IN ('blue', 'yellow', 'orange', 'red')", name=op.f("ck_work_order_level")
        ),
        sa.CheckConstraint(
            "status IN ('open', 'accepted', 'disposed', 'closed')",
            name=op.f("ck_work_order_status"),
        ),
        sa.PrimaryKeyConstraint("work_order_id", name=op.f("pk_work_order")),
        sa.UniqueConstraint("alarm_id", name=op.f("uq_work_order_alarm_id")),
        schema="workorder",
    )
    op.create_index(
        "ix_work_order_created_at",
        "work_order",
        ["created_at", "work_order_id"],
        unique=False,
        schema="workorder",
    )
    op.create_index(
        "ix_work_order_sector_created_at",
        "work_order",
        ["sector_id", "created_at"],
        unique=False,
        schema="workorder",
    )
    op.create_index(
        "ix_work_order_status_level",
        "work_order",
        ["status", "level"],
        unique=False,
        schema="workorder",
    )
    op.create_table(
        "work_order_event",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("work_order_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["workorder.work_order.work_order_id"],
            name=op.f("fk_work_order_event_work_order_id_work_order"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_order_event")),
        schema="workorder",
    )
    op.create_index(
        "ix_work_order_event_work_order_id",
        "work_order_event",
        ["work_order_id", "id"],
        unique=False,
        schema="workorder",
    )


def downgrade() -> None:
    op.drop_index(
        "ix_work_order_event_work_order_id", table_name="work_order_event", schema="workorder"
    )
    op.drop_table("work_order_event", schema="workorder")
    op.drop_index("ix_work_order_status_level", table_name="work_order", schema="workorder")
    op.drop_index("ix_work_order_sector_created_at", table_name="work_order", schema="workorder")
    op.drop_index("ix_work_order_created_at", table_name="work_order", schema="workorder")
    op.drop_table("work_order", schema="workorder")
    op.drop_table("processed_event", schema="workorder")
    op.drop_index(
        "ix_outbox_unpublished",
        table_name="outbox",
        schema="workorder",
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.drop_table("outbox", schema="workorder")
