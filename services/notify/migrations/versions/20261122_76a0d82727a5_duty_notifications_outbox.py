"""Duty centers, people, shifts, notifications; outbox and processed events.

Notifications carry no foreign keys to people or centers: they are a record of what was sent
and must outlive roster changes.

Revision ID: 76a0d82727a5
Revises:
Create Date: 2026-11-22 08:13:43.254458
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "76a0d82727a5"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "duty_center",
        sa.Column("duty_center_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sector_id", sa.String(length=48), nullable=True),
        sa.Column("town_id", sa.String(length=48), nullable=True),
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
        sa.CheckConstraint(
            "kind IN ('district', 'sector', 'street')", name=op.f("ck_duty_center_kind")
        ),
        sa.PrimaryKeyConstraint("duty_center_id", name=op.f("pk_duty_center")),
        schema="notify",
    )
    op.create_index(
        "ix_duty_center_sector_id", "duty_center", ["sector_id"], unique=False, schema="notify"
    )
    op.create_index(
        "ix_duty_center_town_id", "duty_center", ["town_id"], unique=False, schema="notify"
    )
    op.create_table(
        "notification",
        sa.Column("notification_id", sa.String(length=36), nullable=False),
        sa.Column("alarm_id", sa.String(length=64), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("duty_center_id", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.String(length=128), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("provider_message_id", sa.String(length=255), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("alarm_received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("traceparent", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=255), nullable=True),
        sa.CheckConstraint("channel IN ('in_app', 'sms')", name=op.f("ck_notification_channel")),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'delivered', 'failed', 'acknowledged')",
            name=op.f("ck_notification_status"),
        ),
        sa.PrimaryKeyConstraint("notification_id", name=op.f("pk_notification")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_notification_idempotency_key")),
        schema="notify",
    )
    op.create_index(
        "ix_notification_alarm_id", "notification", ["alarm_id"], unique=False, schema="notify"
    )
    op.create_index(
        "ix_notification_created_at",
        "notification",
        ["created_at", "notification_id"],
        unique=False,
        schema="notify",
    )
    op.create_index(
        "ix_notification_due",
        "notification",
        ["next_attempt_at"],
        unique=False,
        schema="notify",
        postgresql_where=sa.text("status IN ('pending', 'sending')"),
    )
    op.create_index(
        "ix_notification_person_id", "notification", ["person_id"], unique=False, schema="notify"
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
        schema="notify",
    )
    op.create_index(
        "ix_outbox_unpublished",
        "outbox",
        ["id"],
        unique=False,
        schema="notify",
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
        schema="notify",
    )
    op.create_table(
        "person",
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("duty_center_id", sa.String(length=64), nullable=False),
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
        sa.ForeignKeyConstraint(
            ["duty_center_id"],
            ["notify.duty_center.duty_center_id"],
            name=op.f("fk_person_duty_center_id_duty_center"),
        ),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_person")),
        schema="notify",
    )
    op.create_index(
        "ix_person_duty_center_id", "person", ["duty_center_id"], unique=False, schema="notify"
    )
    op.create_table(
        "shift",
        sa.Column("shift_id", sa.String(length=128), nullable=False),
        sa.Column("duty_center_id", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.String(length=64), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_shift_ends_after_start")),
        sa.ForeignKeyConstraint(
            ["duty_center_id"],
            ["notify.duty_center.duty_center_id"],
            name=op.f("fk_shift_duty_center_id_duty_center"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["notify.person.person_id"], name=op.f("fk_shift_person_id_person")
        ),
        sa.PrimaryKeyConstraint("shift_id", name=op.f("pk_shift")),
        schema="notify",
    )
    op.create_index(
        "ix_shift_on_duty",
        "shift",
        ["duty_center_id", "ends_at", "starts_at"],
        unique=False,
        schema="notify",
    )
    op.create_index("ix_shift_person_id", "shift", ["person_id"], unique=False, schema="notify")


def downgrade() -> None:
    op.drop_index("ix_shift_person_id", table_name="shift", schema="notify")
    op.drop_index("ix_shift_on_duty", table_name="shift", schema="notify")
    op.drop_table("shift", schema="notify")
    op.drop_index("ix_person_duty_center_id", table_name="person", schema="notify")
    op.drop_table("person", schema="notify")
    op.drop_table("processed_event", schema="notify")
    op.drop_index(
        "ix_outbox_unpublished",
        table_name="outbox",
        schema="notify",
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.drop_table("outbox", schema="notify")
    op.drop_index("ix_notification_person_id", table_name="notification", schema="notify")
    op.drop_index(
        "ix_notification_due",
        table_name="notification",
        schema="notify",
        postgresql_where=sa.text("status IN ('pending', 'sending')"),
    )
    op.drop_index("ix_notification_created_at", table_name="notification", schema="notify")
    op.drop_index("ix_notification_alarm_id", table_name="notification", schema="notify")
    op.drop_table("notification", schema="notify")
    op.drop_index("ix_duty_center_town_id", table_name="duty_center", schema="notify")
    op.drop_index("ix_duty_center_sector_id", table_name="duty_center", schema="notify")
    op.drop_table("duty_center", schema="notify")
