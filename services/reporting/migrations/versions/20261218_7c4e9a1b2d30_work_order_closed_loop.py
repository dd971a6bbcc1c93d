"""work orders of the closed loop (issue 10): the snapshot's new fields, stage deadlines, the
first time each step was reached, and a status that may go back (returned, reopened)

The old vocabulary maps onto the new: open -> created, disposed -> cleared (disposed_at becomes
cleared_at). Rows projected before stage deadlines existed keep only the close limit (due_at).

Revision ID: 7c4e9a1b2d30
Revises: d9f2f32d371f
Create Date: 2026-12-18 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7c4e9a1b2d30"
down_revision: str | None = "d9f2f32d371f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "work_order_view"
SCHEMA = "reporting"
_STAMPS = ("dispatched_at", "on_site_at", "feedback_at", "reviewed_at")  # new; accepted_at was
_DEADLINES = ("accept_due_at", "on_site_due_at", "clear_due_at", "feedback_due_at", "close_due_at")
# Columns every row has, filled in for the rows already there, then left without a default: the
# projection always writes them.
_FILLED = (
    ("origin", sa.String(length=8), sa.text("'alarm'")),
    ("tier", sa.String(length=8), sa.text("'small'")),
    ("false_alarm", sa.Boolean(), sa.false()),
    ("snapshot_rank", sa.SmallInteger(), sa.text("0")),
)


def upgrade() -> None:
    op.alter_column(TABLE, "disposed_at", new_column_name="cleared_at", schema=SCHEMA)
    op.alter_column(
        TABLE, "device_id", existing_type=sa.String(length=128), nullable=True, schema=SCHEMA
    )
    for name, type_, default in _FILLED:
        op.add_column(
            TABLE, sa.Column(name, type_, nullable=False, server_default=default), schema=SCHEMA
        )
        op.alter_column(TABLE, name, server_default=None, schema=SCHEMA)
    for name, length in (("rule_id", 64), ("unit_id", 64), ("assignee", 64), ("stage", 16)):
        op.add_column(TABLE, sa.Column(name, sa.String(length=length)), schema=SCHEMA)
    for name in (*_DEADLINES, "stage_due_at", *_STAMPS):
        op.add_column(TABLE, sa.Column(name, sa.DateTime(timezone=True)), schema=SCHEMA)
    op.execute(
        "UPDATE reporting.work_order_view SET close_due_at = due_at,"
        " status = CASE status WHEN 'open' THEN 'created' WHEN 'disposed' THEN 'cleared'"
        " ELSE status END,"
        # The old loop had no separate stages: an open order's limit running was the close one.
        " stage = CASE WHEN status = 'closed' THEN NULL ELSE 'close' END,"
        " stage_due_at = CASE WHEN status = 'closed' THEN NULL ELSE due_at END"
    )


def downgrade() -> None:
    # The old vocabulary had no word for most new statuses: each maps to the nearest old one.
    op.execute(
        "UPDATE reporting.work_order_view SET status = CASE"
        " WHEN status IN ('created', 'dispatched', 'returned') THEN 'open'"
        " WHEN status = 'on_site' THEN 'accepted'"
        " WHEN status IN ('cleared', 'feedback', 'reviewed') THEN 'disposed'"
        " ELSE status END,"
        " device_id = COALESCE(device_id, '')"
    )
    for name in (*_STAMPS, "stage_due_at", *_DEADLINES, "stage", "assignee", "unit_id", "rule_id"):
        op.drop_column(TABLE, name, schema=SCHEMA)
    for name, _, _ in reversed(_FILLED):
        op.drop_column(TABLE, name, schema=SCHEMA)
    op.alter_column(
        TABLE, "device_id", existing_type=sa.String(length=128), nullable=False, schema=SCHEMA
    )
    op.alter_column(TABLE, "cleared_at", new_column_name="disposed_at", schema=SCHEMA)
