"""Projections of alarms, work orders, notifications and duty; the processed-event table.

Revision ID: e44011488c81
Revises:
Create Date: 2026-11-22 08:21:37.933581
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e44011488c81"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alarm_view",
        sa.Column("alarm_id", sa.String(length=64), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("sector_id", sa.String(length=48), nullable=False),
        sa.Column("scenario_id", sa.String(length=48), nullable=False),
        sa.Column("town_id", sa.String(length=48), nullable=True),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cleared_reason", sa.String(length=32), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("alarm_id", name=op.f("pk_alarm_view")),
        schema="reporting",
    )
    op.create_index(
        "ix_alarm_view_raised_at", "alarm_view", ["raised_at"], unique=False, schema="reporting"
    )
    op.create_table(
        "duty_shift_view",
        sa.Column("shift_id", sa.String(length=64), nullable=False),
        sa.Column("duty_center_id", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("roster_id", sa.String(length=64), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checked_in_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("shift_id", name=op.f("pk_duty_shift_view")),
        schema="reporting",
    )
    op.create_index(
        "ix_duty_shift_view_starts_at",
        "duty_shift_view",
        ["starts_at"],
        unique=False,
        schema="reporting",
    )
    op.create_table(
        "notification_view",
        sa.Column("notification_id", sa.String(length=64), nullable=False),
        sa.Column("alarm_id", sa.String(length=64), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("duty_center_id", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("gave_up_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("notification_id", name=op.f("pk_notification_view")),
        schema="reporting",
    )
    op.create_index(
        "ix_notification_view_alarm_id",
        "notification_view",
        ["alarm_id"],
        unique=False,
        schema="reporting",
    )
    op.create_index(
        "ix_notification_view_sent_at",
        "notification_view",
        ["sent_at"],
        unique=False,
        schema="reporting",
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
        schema="reporting",
    )
    op.create_table(
        "roster_view",
        sa.Column("roster_id", sa.String(length=64), nullable=False),
        sa.Column("duty_center_id", sa.String(length=64), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("shift_count", sa.Integer(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("roster_id", name=op.f("pk_roster_view")),
        schema="reporting",
    )
    op.create_index(
        "ix_roster_view_published_at",
        "roster_view",
        ["published_at"],
        unique=False,
        schema="reporting",
    )
    op.create_table(
        "work_order_view",
        sa.Column("work_order_id", sa.String(length=64), nullable=False),
        sa.Column("alarm_id", sa.String(length=64), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("sector_id", sa.String(length=48), nullable=False),
        sa.Column("scenario_id", sa.String(length=48), nullable=False),
        sa.Column("town_id", sa.String(length=48), nullable=True),
        sa.Column("device_id", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disposed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("overdue_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("work_order_id", name=op.f("pk_work_order_view")),
        schema="reporting",
    )
    op.create_index(
        "ix_work_order_view_alarm_id",
        "work_order_view",
        ["alarm_id"],
        unique=False,
        schema="reporting",
    )
    op.create_index(
        "ix_work_order_view_created_at",
        "work_order_view",
        ["created_at"],
        unique=False,
        schema="reporting",
    )


def downgrade() -> None:
    op.drop_index("ix_work_order_view_created_at", table_name="work_order_view", schema="reporting")
    op.drop_index("ix_work_order_view_alarm_id", table_name="work_order_view", schema="reporting")
    op.drop_table("work_order_view", schema="reporting")
    op.drop_index("ix_roster_view_published_at", table_name="roster_view", schema="reporting")
    op.drop_table("roster_view", schema="reporting")
    op.drop_table("processed_event", schema="reporting")
    op.drop_index(
        "ix_notification_view_sent_at", table_name="notification_view", schema="reporting"
    )
    op.drop_index(
        "ix_notification_view_alarm_id", table_name="notification_view", schema="reporting"
    )
    op.drop_table("notification_view", schema="reporting")
    op.drop_index("ix_duty_shift_view_starts_at", table_name="duty_shift_view", schema="reporting")
    op.drop_table("duty_shift_view", schema="reporting")
    op.drop_index("ix_alarm_view_raised_at", table_name="alarm_view", schema="reporting")
    op.drop_table("alarm_view", schema="reporting")
