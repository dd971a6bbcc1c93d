"""escalation and channels: escalation policies (versions) and one durable escalation per
alarm; notifications by voice, group robot and e-mail, from templates, with the escalation step
that sent them, storm-control digests, fallbacks, the acknowledging channel and the live
stream's cursor; the delivery log; message templates; people's e-mail and locale, centers'
group robots

Revision ID: 5f1e9a7c3b20
Revises: 8e2b5d1c7a40
Create Date: 2026-12-17 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "5f1e9a7c3b20"
down_revision: str | None = "8e2b5d1c7a40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "notify"
CHANNELS = "channel IN ('in_app', 'sms', 'voice', 'webhook', 'email')"
STATUSES = (
    "status IN ('pending', 'sending', 'sent', 'delivered', 'failed', 'acknowledged', 'suppressed')"
)


def _ts(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.add_column("person", sa.Column("email", sa.String(254)), schema=S)
    op.add_column(
        "person",
        sa.Column("locale", sa.String(8), server_default=sa.text("'zh-CN'"), nullable=False),
        schema=S,
    )
    op.add_column("duty_center", sa.Column("robot_url", sa.String(500)), schema=S)

    n = "notification"
    for name, column in [
        ("acknowledged_via", sa.Column("acknowledged_via", sa.String(16))),
        ("step", sa.Column("step", sa.Integer, server_default=sa.text("0"), nullable=False)),
        ("round", sa.Column("round", sa.Integer, server_default=sa.text("0"), nullable=False)),
        (
            "locale",
            sa.Column("locale", sa.String(8), server_default=sa.text("'zh-CN'"), nullable=False),
        ),
        ("subject", sa.Column("subject", sa.String(200))),
        ("template_id", sa.Column("template_id", sa.String(64))),
        ("params", sa.Column("params", postgresql.JSONB)),
        ("fallback_of", sa.Column("fallback_of", sa.String(36))),
        ("digest_id", sa.Column("digest_id", sa.String(36))),
        (
            "txid",
            sa.Column(
                "txid",
                sa.BigInteger,
                server_default=sa.text("(pg_current_xact_id()::text)::bigint"),
                nullable=False,
            ),
        ),
        ("seq", sa.Column("seq", sa.BigInteger, sa.Identity(always=True), nullable=False)),
    ]:
        del name
        op.add_column(n, column, schema=S)
    # A recipient is also a robot URL (up to 500) or an e-mail address (up to 254). Widening a
    # varchar is a catalog change in PostgreSQL: no table rewrite.
    op.alter_column(
        n,
        "recipient",
        type_=sa.String(500),
        existing_type=sa.String(128),
        existing_nullable=False,
        schema=S,
    )
    op.drop_constraint(op.f("ck_notification_channel"), n, schema=S)
    op.create_check_constraint(op.f("ck_notification_channel"), n, CHANNELS, schema=S)
    op.drop_constraint(op.f("ck_notification_topic"), n, schema=S)
    op.create_check_constraint(
        op.f("ck_notification_topic"),
        n,
        "topic IN ('alarm', 'roster', 'check_in', 'digest')",
        schema=S,
    )
    op.drop_constraint(op.f("ck_notification_status"), n, schema=S)
    op.create_check_constraint(op.f("ck_notification_status"), n, STATUSES, schema=S)
    op.create_index("ix_notification_provider_message_id", n, ["provider_message_id"], schema=S)
    op.create_index(
        "ix_notification_recipient", n, ["recipient", "channel", "created_at"], schema=S
    )
    op.create_index(
        "ix_notification_stream",
        n,
        ["person_id", "txid", "seq"],
        schema=S,
        postgresql_where=sa.text("channel = 'in_app'"),
    )

    op.create_table(
        "delivery_attempt",
        sa.Column("attempt_id", sa.BigInteger, sa.Identity(always=True), nullable=False),
        sa.Column("notification_id", sa.String(36), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("request", postgresql.JSONB),
        sa.Column("provider_message_id", sa.String(255)),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("error", sa.String(500)),
        sa.Column("latency_ms", sa.Integer),
        _ts("at"),
        sa.PrimaryKeyConstraint("attempt_id", name=op.f("pk_delivery_attempt")),
        schema=S,
    )
    op.create_index(
        "ix_delivery_attempt_notification_id",
        "delivery_attempt",
        ["notification_id", "attempt_id"],
        schema=S,
    )
    op.create_index("ix_delivery_attempt_at", "delivery_attempt", ["at"], schema=S)

    op.create_table(
        "message_template",
        sa.Column("key", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("locale", sa.String(8), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("subject", sa.String(200)),
        sa.Column("provider_template_id", sa.String(64)),
        _ts("updated_at"),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("key", "channel", "locale", name=op.f("pk_message_template")),
        schema=S,
    )

    op.create_table(
        "escalation_policy",
        sa.Column("version", sa.Integer, autoincrement=False, nullable=False),
        sa.Column("policies", postgresql.JSONB, nullable=False),
        _ts("created_at"),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_escalation_policy")),
        schema=S,
    )
    op.create_table(
        "escalation",
        sa.Column("alarm_id", sa.String(64), nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("policy_version", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("next_step", sa.Integer, nullable=False),
        sa.Column("round", sa.Integer, nullable=False),
        _ts("next_step_at", nullable=True),
        _ts("started_at"),
        sa.Column("alarm", postgresql.JSONB, nullable=False),
        sa.Column("place", sa.String(200)),
        sa.Column("traceparent", sa.String(64)),
        _ts("acknowledged_at", nullable=True),
        sa.Column("acknowledged_by", sa.String(64)),
        sa.Column("acknowledged_via", sa.String(16)),
        _ts("stopped_at", nullable=True),
        _ts("updated_at"),
        sa.CheckConstraint(
            "status IN ('active', 'acknowledged', 'accepted', 'cleared', 'exhausted')",
            name=op.f("ck_escalation_status"),
        ),
        sa.PrimaryKeyConstraint("alarm_id", name=op.f("pk_escalation")),
        schema=S,
    )
    op.create_index(
        "ix_escalation_due",
        "escalation",
        ["next_step_at"],
        schema=S,
        postgresql_where=sa.text("status = 'active'"),
    )


def downgrade() -> None:
    op.drop_table("escalation", schema=S)
    op.drop_table("escalation_policy", schema=S)
    op.drop_table("message_template", schema=S)
    op.drop_table("delivery_attempt", schema=S)
    n = "notification"
    for index in (
        "ix_notification_stream",
        "ix_notification_recipient",
        "ix_notification_provider_message_id",
    ):
        op.drop_index(index, n, schema=S)
    op.execute("DELETE FROM notify.notification WHERE channel NOT IN ('in_app', 'sms')")
    op.execute("DELETE FROM notify.notification WHERE topic = 'digest'")
    op.execute("UPDATE notify.notification SET status = 'failed' WHERE status = 'suppressed'")
    # Only in-app and SMS rows are left: person ids and phones, which fit.
    op.alter_column(
        n,
        "recipient",
        type_=sa.String(128),
        existing_type=sa.String(500),
        existing_nullable=False,
        schema=S,
    )
    op.drop_constraint(op.f("ck_notification_status"), n, schema=S)
    op.create_check_constraint(
        op.f("ck_notification_status"),
        n,
        "status IN ('pending', 'sending', 'sent', 'delivered', 'failed', 'acknowledged')",
        schema=S,
    )
    op.drop_constraint(op.f("ck_notification_topic"), n, schema=S)
    op.create_check_constraint(
        op.f("ck_notification_topic"), n, "topic IN ('alarm', 'roster', 'check_in')", schema=S
    )
    op.drop_constraint(op.f("ck_notification_channel"), n, schema=S)
    op.create_check_constraint(
        op.f("ck_notification_channel"), n, "channel IN ('in_app', 'sms')", schema=S
    )
    for column in (
        "seq",
        "txid",
        "digest_id",
        "fallback_of",
        "params",
        "template_id",
        "subject",
        "locale",
        "round",
        "step",
        "acknowledged_via",
    ):
        op.drop_column(n, column, schema=S)
    op.drop_column("duty_center", "robot_url", schema=S)
    op.drop_column("person", "locale", schema=S)
    op.drop_column("person", "email", schema=S)
