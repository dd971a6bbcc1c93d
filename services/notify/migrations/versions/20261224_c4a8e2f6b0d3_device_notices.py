"""device notices: notifications of a device offline or back online (topic device) to the
technical staff over it

Revision ID: c4a8e2f6b0d3
Revises: b7d4e1f09a36
Create Date: 2026-12-24 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "c4a8e2f6b0d3"
down_revision: str | None = "b7d4e1f09a36"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "notify"
TOPICS = "topic IN ('alarm', 'roster', 'check_in', 'digest', 'work_order', 'device')"
OLD_TOPICS = "topic IN ('alarm', 'roster', 'check_in', 'digest', 'work_order')"


def upgrade() -> None:
    n = "notification"
    op.drop_constraint(op.f("ck_notification_topic"), n, schema=S)
    op.create_check_constraint(op.f("ck_notification_topic"), n, TOPICS, schema=S)


def downgrade() -> None:
    n = "notification"
    op.execute("DELETE FROM notify.notification WHERE topic = 'device'")
    op.drop_constraint(op.f("ck_notification_topic"), n, schema=S)
    op.create_check_constraint(op.f("ck_notification_topic"), n, OLD_TOPICS, schema=S)
