"""device profiles; devices' profile, location, address, owner unit and gateway

Revision ID: c3a9e5f1b7d2
Revises: d4b0f6a2c8e3
Create Date: 2026-12-22 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "c3a9e5f1b7d2"
down_revision: str | None = "d4b0f6a2c8e3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_profile",
        sa.Column("profile_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("metrics", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("offline_after_intervals", sa.Integer(), nullable=False),
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
        sa.PrimaryKeyConstraint("profile_id", name=op.f("pk_device_profile")),
        schema="ingest",
    )
    op.add_column(
        "device", sa.Column("profile_id", sa.String(length=64), nullable=True), schema="ingest"
    )
    op.add_column("device", sa.Column("lon", sa.Float(), nullable=True), schema="ingest")
    op.add_column("device", sa.Column("lat", sa.Float(), nullable=True), schema="ingest")
    op.add_column(
        "device", sa.Column("address", sa.String(length=300), nullable=True), schema="ingest"
    )
    op.add_column(
        "device", sa.Column("owner_unit", sa.String(length=64), nullable=True), schema="ingest"
    )
    op.add_column(
        "device", sa.Column("gateway_id", sa.String(length=128), nullable=True), schema="ingest"
    )
    op.create_foreign_key(
        op.f("fk_device_profile_id_device_profile"),
        "device",
        "device_profile",
        ["profile_id"],
        ["profile_id"],
        source_schema="ingest",
        referent_schema="ingest",
        ondelete="RESTRICT",
    )
    op.create_index("ix_device_profile_id", "device", ["profile_id"], unique=False, schema="ingest")
    op.create_index("ix_device_gateway_id", "device", ["gateway_id"], unique=False, schema="ingest")
    op.create_check_constraint(
        op.f("ck_device_location_pair"), "device", "(lon IS NULL) = (lat IS NULL)", schema="ingest"
    )
    op.create_check_constraint(
        op.f("ck_device_wgs84"),
        "device",
        "lon BETWEEN -180 AND 180 AND lat BETWEEN -90 AND 90",
        schema="ingest",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_device_wgs84"), "device", type_="check", schema="ingest")
    op.drop_constraint(op.f("ck_device_location_pair"), "device", type_="check", schema="ingest")
    op.drop_index("ix_device_gateway_id", table_name="device", schema="ingest")
    op.drop_index("ix_device_profile_id", table_name="device", schema="ingest")
    op.drop_constraint(
        op.f("fk_device_profile_id_device_profile"), "device", type_="foreignkey", schema="ingest"
    )
    for column in ("gateway_id", "owner_unit", "address", "lat", "lon", "profile_id"):
        op.drop_column("device", column, schema="ingest")
    op.drop_table("device_profile", schema="ingest")
