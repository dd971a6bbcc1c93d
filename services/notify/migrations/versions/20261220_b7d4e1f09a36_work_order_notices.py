"""work-order notices: notifications about work orders (topic work_order); open items of work
orders keep their responsible unit and may have no device (an order made by hand); the closed
loop's statuses replace open and disposed

Revision ID: b7d4e1f09a36
Revises: 5f1e9a7c3b20
Create Date: 2026-12-20 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b7d4e1f09a36"
down_revision: str | None = "5f1e9a7c3b20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "notify"
TOPICS = "topic IN ('alarm', 'roster', 'check_in', 'digest', 'work_order')"
OLD_TOPICS = "topic IN ('alarm', 'roster', 'check_in', 'digest')"


def upgrade() -> None:
    n = "notification"
    op.drop_constraint(op.f("ck_notification_topic"), n, schema=S)
    op.create_check_constraint(op.f("ck_notification_topic"), n, TOPICS, schema=S)

    op.add_column("open_item", sa.Column("unit_id", sa.String(64)), schema=S)
    op.create_index("ix_open_item_unit", "open_item", ["unit_id"], schema=S)
    op.alter_column("open_item", "device_id", existing_type=sa.String(128), nullable=True, schema=S)
    # The old vocabulary: open (waiting for someone to accept) and disposed (done, to close).
    op.execute(
        "UPDATE notify.open_item SET status = CASE status"
        " WHEN 'open' THEN 'created' WHEN 'disposed' THEN 'feedback' END"
        " WHERE item_kind = 'work_order' AND status IN ('open', 'disposed')"
    )


def downgrade() -> None:
    op.execute(
        "UPDATE notify.open_item SET status = CASE"
        " WHEN status IN ('created', 'dispatched', 'returned') THEN 'open'"
        " WHEN status IN ('on_site', 'cleared', 'feedback', 'reviewed') THEN 'disposed'"
        " ELSE status END"
        " WHERE item_kind = 'work_order'"
    )
    op.execute("DELETE FROM notify.open_item WHERE device_id IS NULL")
    op.alter_column(
        "open_item", "device_id", existing_type=sa.String(128), nullable=False, schema=S
    )
    op.drop_index("ix_open_item_unit", "open_item", schema=S)
    op.drop_column("open_item", "unit_id", schema=S)
    n = "notification"
    op.execute("DELETE FROM notify.notification WHERE topic = 'work_order'")
    op.drop_constraint(op.f("ck_notification_topic"), n, schema=S)
    op.create_check_constraint(op.f("ck_notification_topic"), n, OLD_TOPICS, schema=S)
