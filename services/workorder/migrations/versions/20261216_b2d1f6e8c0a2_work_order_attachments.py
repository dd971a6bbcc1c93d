"""evidence of work orders: photos and documents, their size and sha256 (the bytes are stored
outside the database, under storage_key)

Revision ID: b2d1f6e8c0a2
Revises: 3b6d9e1f4a82
Create Date: 2026-12-16 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b2d1f6e8c0a2"
down_revision: str | None = "3b6d9e1f4a82"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "work_order_attachment",
        sa.Column("attachment_id", sa.String(length=64), nullable=False),
        sa.Column("work_order_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=255), nullable=False),
        sa.Column("uploaded_by", sa.String(length=255), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('photo', 'document')", name=op.f("ck_work_order_attachment_kind")
        ),
        sa.CheckConstraint("size >= 0", name=op.f("ck_work_order_attachment_size")),
        sa.CheckConstraint(
            "sha256 ~ '^[0-9a-f]{64}$'", name=op.f("ck_work_order_attachment_sha256")
        ),
        sa.ForeignKeyConstraint(
            ["work_order_id"],
            ["workorder.work_order.work_order_id"],
            name=op.f("fk_work_order_attachment_work_order_id_work_order"),
        ),
        sa.PrimaryKeyConstraint("attachment_id", name=op.f("pk_work_order_attachment")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_work_order_attachment_storage_key")),
        schema="workorder",
    )
    op.create_index(
        "ix_work_order_attachment_work_order_id",
        "work_order_attachment",
        ["work_order_id", "uploaded_at"],
        unique=False,
        schema="workorder",
    )


def downgrade() -> None:
    op.drop_index(
        "ix_work_order_attachment_work_order_id",
        table_name="work_order_attachment",
        schema="workorder",
    )
    op.drop_table("work_order_attachment", schema="workorder")
