"""rules alarms outbox

Revision ID: b4dd3a48556c
Revises:
Create Date: 2026-11-22 07:59:38.402595
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "b4dd3a48556c"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alarm",
        sa.Column("alarm_id", sa.String(length=64), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("device", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("sector_id", sa.String(length=48), nullable=False),
        sa.Column("scenario_id", sa.String(length=48), nullable=False),
        sa.Column("town_id", sa.String(length=48), nullable=True),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_value", sa.Float(), nullable=False),
        sa.Column("last_observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("breach_count", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cleared_reason", sa.String(length=32), nullable=True),
        sa.Column("work_order_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("alarm_id", name=op.f("pk_alarm")),
        schema="alerting",
    )
    op.create_index("ix_alarm_raised_at", "alarm", ["raised_at"], unique=False, schema="alerting")
    op.create_index(
        "ix_alarm_status_level", "alarm", ["status", "level"], unique=False, schema="alerting"
    )
    op.create_index(
        "uq_alarm_active_device_rule",
        "alarm",
        ["device_id", "rule_id"],
        unique=True,
        schema="alerting",
        postgresql_where=sa.text("status = 'active'"),
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
        schema="alerting",
    )
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["id"],
        unique=False,
        schema="alerting",
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
        schema="alerting",
    )
    op.create_table(
        "rule",
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("scenario_id", sa.String(length=48), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("blue", sa.Float(), nullable=True),
        sa.Column("yellow", sa.Float(), nullable=True),
        sa.Column("orange", sa.Float(), nullable=True),
        sa.Column("red", sa.Float(), nullable=True),
        sa.Column("unit", sa.String(length=32), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("rule_id", name=op.f("pk_rule")),
        schema="alerting",
    )
    op.create_index(
        "ix_rule_scenario_metric",
        "rule",
        ["scenario_id", "metric"],
        unique=False,
        schema="alerting",
    )


def downgrade() -> None:
    op.drop_index("ix_rule_scenario_metric", table_name="rule", schema="alerting")
    op.drop_table("rule", schema="alerting")
    op.drop_table("processed_event", schema="alerting")
    op.drop_index(
        "ix_outbox_unpublished",
        table_name="outbox",
        schema="alerting",
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.drop_table("outbox", schema="alerting")
    op.drop_index(
        "uq_alarm_active_device_rule",
        table_name="alarm",
        schema="alerting",
        postgresql_where=sa.text("status = 'active'"),
    )
    op.drop_index("ix_alarm_status_level", table_name="alarm", schema="alerting")
    op.drop_index("ix_alarm_raised_at", table_name="alarm", schema="alerting")
    op.drop_table("alarm", schema="alerting")
