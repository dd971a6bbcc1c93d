"""the closed loop: stages and their limits, units, the command manual, bulletins

Revision ID: a1c0e5d7b9f1
Revises: b2d1f6e8c0a2
Create Date: 2026-12-18 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "a1c0e5d7b9f1"
down_revision: str | None = "b2d1f6e8c0a2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "workorder"
T = "work_order"
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    add = [
        sa.Column("origin", sa.String(8), server_default="alarm", nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("reported_by", sa.String(255), nullable=True),
        sa.Column("reported_lon", sa.Float(), nullable=True),
        sa.Column("reported_lat", sa.Float(), nullable=True),
        sa.Column("manual_version", sa.Integer(), nullable=True),
        sa.Column("disposal_standard", sa.Text(), nullable=True),
        sa.Column("disposal_type", sa.String(16), nullable=True),
        sa.Column("handler_role", sa.String(64), nullable=True),
        sa.Column("required_fields", postgresql.JSONB(), server_default="[]", nullable=False),
        sa.Column("photos_required", sa.Integer(), server_default="0", nullable=False),
        sa.Column("tier", sa.String(8), server_default="small", nullable=False),
        sa.Column("unit_id", sa.String(64), nullable=True),
        sa.Column("assignee", sa.String(255), nullable=True),
        sa.Column("accept_due_at", _TS, nullable=True),
        sa.Column("on_site_due_at", _TS, nullable=True),
        sa.Column("clear_due_at", _TS, nullable=True),
        sa.Column("feedback_due_at", _TS, nullable=True),
        sa.Column("stage_due_at", _TS, nullable=True),
        sa.Column("stage_clock_from", _TS, nullable=True),
        sa.Column("reminded", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("overdue", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("next_timer_at", _TS, nullable=True),
        sa.Column("on_site_at", _TS, nullable=True),
        sa.Column("on_site_lon", sa.Float(), nullable=True),
        sa.Column("on_site_lat", sa.Float(), nullable=True),
        sa.Column("cleared_at", _TS, nullable=True),
        sa.Column("clear_note", sa.Text(), nullable=True),
        sa.Column("feedback_at", _TS, nullable=True),
        sa.Column("feedback_json", postgresql.JSONB(), server_default="{}", nullable=False),
        sa.Column("quality_problems", postgresql.JSONB(), server_default="[]", nullable=False),
        sa.Column("reviewed_at", _TS, nullable=True),
        sa.Column("false_alarm", sa.Boolean(), server_default="false", nullable=False),
    ]
    for column in add:
        op.add_column(T, column, schema=S)
    op.drop_constraint(op.f("ck_work_order_status"), T, schema=S)
    # The old loop open -> accepted -> disposed -> closed maps onto the new one: open waits
    # for dispatch (created), disposed is cleared; stage limits are the close limit's shares.
    op.execute(
        """
        UPDATE workorder.work_order SET
          status = CASE status WHEN 'open' THEN 'created' WHEN 'disposed' THEN 'cleared'
                   ELSE status END,
          unit_id = CASE WHEN town_id IS NOT NULL THEN 'street-' || town_id
                    ELSE 'sector-' || sector_id END,
          accept_due_at = created_at + (due_at - created_at) / 12,
          on_site_due_at = created_at + (due_at - created_at) / 4,
          clear_due_at = created_at + (due_at - created_at) / 2,
          feedback_due_at = created_at + (due_at - created_at) * 3 / 4,
          cleared_at = disposed_at,
          clear_note = disposal_note,
          feedback_at = CASE WHEN feedback IS NOT NULL THEN closed_at END,
          reviewed_at = CASE WHEN status = 'closed' THEN closed_at END,
          feedback_json = CASE WHEN feedback IS NOT NULL
                          THEN jsonb_build_object('note', feedback) ELSE '{}'::jsonb END
        """
    )
    op.execute(
        """
        UPDATE workorder.work_order SET
          stage_due_at = CASE status
            WHEN 'created' THEN accept_due_at WHEN 'accepted' THEN on_site_due_at
            WHEN 'cleared' THEN feedback_due_at END,
          stage_clock_from = CASE WHEN status <> 'closed' THEN created_at END,
          next_timer_at = CASE status
            WHEN 'created' THEN accept_due_at WHEN 'accepted' THEN on_site_due_at
            WHEN 'cleared' THEN feedback_due_at END,
          reminded = true
        """
    )
    for name in ("accept_due_at", "on_site_due_at", "clear_due_at", "feedback_due_at"):
        op.alter_column(T, name, nullable=False, schema=S)
    for name in ("disposed_at", "disposed_by", "disposal_note", "feedback"):
        op.drop_column(T, name, schema=S)
    op.alter_column(T, "feedback_json", new_column_name="feedback", schema=S)
    op.alter_column(T, "rule_id", nullable=True, schema=S)
    op.alter_column(T, "device_id", nullable=True, schema=S)
    op.create_check_constraint(
        op.f("ck_work_order_status"),
        T,
        "status IN ('created', 'dispatched', 'accepted', 'on_site', 'cleared', 'feedback', "
        "'reviewed', 'closed', 'returned')",
        schema=S,
    )
    op.create_check_constraint(
        op.f("ck_work_order_tier"), T, "tier IN ('small', 'medium', 'big')", schema=S
    )
    op.create_check_constraint(
        op.f("ck_work_order_origin"), T, "origin IN ('alarm', 'patrol', 'public')", schema=S
    )
    op.create_index("ix_work_order_unit_id", T, ["unit_id", "created_at"], schema=S)
    op.create_index("ix_work_order_assignee", T, ["assignee", "created_at"], schema=S)
    op.create_index(
        "ix_work_order_next_timer_at",
        T,
        ["next_timer_at"],
        schema=S,
        postgresql_where=sa.text("next_timer_at IS NOT NULL"),
    )
    op.create_table(
        "unit_member",
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("person_id", sa.String(255), nullable=False),
        sa.Column("leader", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("changed_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("unit_id", "person_id", name=op.f("pk_unit_member")),
        schema=S,
    )
    op.create_index("ix_unit_member_person_id", "unit_member", ["person_id"], schema=S)
    op.create_table(
        "unit_version",
        sa.Column("unit_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("changed_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("unit_id", name=op.f("pk_unit_version")),
        schema=S,
    )
    op.create_table(
        "bulletin",
        sa.Column("bulletin_id", sa.String(64), nullable=False),
        sa.Column("week_start", _TS, nullable=False),
        sa.Column("week_end", _TS, nullable=False),
        sa.Column("units", postgresql.JSONB(), nullable=False),
        sa.Column("published_at", _TS, nullable=False),
        sa.Column("published_by", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("bulletin_id", name=op.f("pk_bulletin")),
        sa.UniqueConstraint("week_start", name=op.f("uq_bulletin_week_start")),
        schema=S,
    )
    op.create_table(
        "command_manual",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("entries", postgresql.JSONB(), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("reviewed_by", sa.String(255), nullable=True),
        sa.Column("reviewed_at", _TS, nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('draft', 'approved', 'superseded')", name=op.f("ck_command_manual_status")
        ),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_command_manual")),
        schema=S,
    )


def downgrade() -> None:
    # The new statuses have no place in the old four: a downgrade keeps only what maps back.
    op.drop_table("command_manual", schema=S)
    op.drop_table("bulletin", schema=S)
    op.drop_table("unit_version", schema=S)
    op.drop_table("unit_member", schema=S)
    op.drop_index("ix_work_order_next_timer_at", T, schema=S)
    op.drop_index("ix_work_order_assignee", T, schema=S)
    op.drop_index("ix_work_order_unit_id", T, schema=S)
    for name in ("ck_work_order_origin", "ck_work_order_tier", "ck_work_order_status"):
        op.drop_constraint(op.f(name), T, schema=S)
    op.add_column(T, sa.Column("disposed_at", _TS, nullable=True), schema=S)
    op.add_column(T, sa.Column("disposed_by", sa.String(255), nullable=True), schema=S)
    op.add_column(T, sa.Column("disposal_note", sa.Text(), nullable=True), schema=S)
    op.add_column(T, sa.Column("feedback_text", sa.Text(), nullable=True), schema=S)
    op.execute(
        """
        UPDATE workorder.work_order SET
          status = CASE WHEN status IN ('created', 'dispatched', 'returned') THEN 'open'
                        WHEN status IN ('accepted', 'on_site') THEN 'accepted'
                        WHEN status IN ('cleared', 'feedback', 'reviewed') THEN 'disposed'
                        ELSE 'closed' END,
          disposed_at = cleared_at, disposal_note = clear_note,
          feedback_text = feedback ->> 'note'
        """
    )
    op.drop_column(T, "feedback", schema=S)
    op.alter_column(T, "feedback_text", new_column_name="feedback", schema=S)
    for name in (
        "origin", "description", "reported_by", "reported_lon", "reported_lat",
        "manual_version", "disposal_standard", "disposal_type", "handler_role",
        "required_fields", "photos_required", "tier", "unit_id", "assignee", "accept_due_at",
        "on_site_due_at", "clear_due_at", "feedback_due_at", "stage_due_at",
        "stage_clock_from", "reminded", "overdue", "next_timer_at", "on_site_at",
        "on_site_lon", "on_site_lat", "cleared_at", "clear_note", "quality_problems",
        "reviewed_at", "false_alarm",
    ):  # fmt: skip
        op.drop_column(T, name, schema=S)
    op.create_check_constraint(
        op.f("ck_work_order_status"),
        T,
        "status IN ('open', 'accepted', 'disposed', 'closed')",
        schema=S,
    )
