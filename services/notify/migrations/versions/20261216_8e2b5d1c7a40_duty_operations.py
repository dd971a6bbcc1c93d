"""duty operations: members, leaders and fallbacks of centers; rosters with shifts that are
drafted, published and checked in; swaps, duty alerts, handovers, versioned routing, the open
alarms and work orders a handover attaches; notifications about duty as well as alarms

Shifts so far came only from the demo seeder (no API created them) and carried no roster: they
are deleted; the demo roster is now an import file applied at start. People keep their contact
details and become members of the center they belonged to.

Revision ID: 8e2b5d1c7a40
Revises: 4c7e0f2a5b93
Create Date: 2026-12-16 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "8e2b5d1c7a40"
down_revision: str | None = "4c7e0f2a5b93"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = "notify"


def _ts(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.add_column("duty_center", sa.Column("leader_id", sa.String(64)), schema=S)
    op.add_column("duty_center", sa.Column("fallback_id", sa.String(64)), schema=S)

    op.create_table(
        "duty_member",
        sa.Column("duty_center_id", sa.String(64), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        _ts("added_at"),
        sa.ForeignKeyConstraint(
            ["duty_center_id"],
            [f"{S}.duty_center.duty_center_id"],
            name=op.f("fk_duty_member_duty_center_id_duty_center"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], [f"{S}.person.person_id"], name=op.f("fk_duty_member_person_id_person")
        ),
        sa.PrimaryKeyConstraint("duty_center_id", "person_id", name=op.f("pk_duty_member")),
        schema=S,
    )
    op.create_index("ix_duty_member_person_id", "duty_member", ["person_id"], schema=S)
    op.execute(
        "INSERT INTO notify.duty_member (duty_center_id, person_id, added_at) "
        "SELECT duty_center_id, person_id, created_at FROM notify.person"
    )
    op.drop_index("ix_person_duty_center_id", "person", schema=S)
    op.drop_constraint("fk_person_duty_center_id_duty_center", "person", schema=S)
    op.drop_column("person", "duty_center_id", schema=S)
    op.create_index("ix_person_phone", "person", ["phone"], schema=S)

    op.create_table(
        "roster",
        sa.Column("roster_id", sa.String(64), nullable=False),
        sa.Column("duty_center_id", sa.String(64), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        _ts("period_start"),
        _ts("period_end"),
        sa.Column("spec", postgresql.JSONB(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("allow_gaps", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        _ts("published_at", True),
        _ts("first_published_at", True),
        sa.Column("published_by", sa.String(64)),
        sa.CheckConstraint("status IN ('draft', 'published')", name=op.f("ck_roster_status")),
        sa.CheckConstraint("days BETWEEN 1 AND 62", name=op.f("ck_roster_days")),
        sa.ForeignKeyConstraint(
            ["duty_center_id"],
            [f"{S}.duty_center.duty_center_id"],
            name=op.f("fk_roster_duty_center_id_duty_center"),
        ),
        sa.PrimaryKeyConstraint("roster_id", name=op.f("pk_roster")),
        schema=S,
    )
    op.create_index(
        "ix_roster_center_period", "roster", ["duty_center_id", "period_start"], schema=S
    )

    op.execute("DELETE FROM notify.shift")
    op.drop_index("ix_shift_on_duty", "shift", schema=S)
    op.drop_index("ix_shift_person_id", "shift", schema=S)
    op.add_column("shift", sa.Column("roster_id", sa.String(64), nullable=False), schema=S)
    op.add_column("shift", sa.Column("template", sa.String(32), nullable=False), schema=S)
    op.add_column(
        "shift",
        sa.Column("published", sa.Boolean(), nullable=False, server_default=sa.false()),
        schema=S,
    )
    op.add_column("shift", _ts("checked_in_at", True), schema=S)
    op.add_column("shift", sa.Column("checked_in_via", sa.String(8)), schema=S)
    op.add_column("shift", sa.Column("checked_in_late", sa.Boolean()), schema=S)
    op.create_foreign_key(
        op.f("fk_shift_roster_id_roster"),
        "shift",
        "roster",
        ["roster_id"],
        ["roster_id"],
        source_schema=S,
        referent_schema=S,
    )
    op.create_index(
        "ix_shift_on_duty",
        "shift",
        ["duty_center_id", "ends_at", "starts_at"],
        schema=S,
        postgresql_where=sa.text("published"),
    )
    op.create_index("ix_shift_person_id", "shift", ["person_id", "ends_at"], schema=S)
    op.create_index("ix_shift_roster_id", "shift", ["roster_id"], schema=S)

    op.create_table(
        "swap_request",
        sa.Column("swap_id", sa.String(36), nullable=False),
        sa.Column("shift_id", sa.String(128), nullable=False),
        sa.Column("duty_center_id", sa.String(64), nullable=False),
        sa.Column("from_person_id", sa.String(64), nullable=False),
        sa.Column("to_person_id", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(500)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        _ts("requested_at"),
        sa.Column("decided_by", sa.String(64)),
        _ts("decided_at", True),
        sa.CheckConstraint(
            "status IN ('requested', 'approved', 'rejected')", name=op.f("ck_swap_request_status")
        ),
        sa.ForeignKeyConstraint(
            ["shift_id"], [f"{S}.shift.shift_id"], name=op.f("fk_swap_request_shift_id_shift")
        ),
        sa.PrimaryKeyConstraint("swap_id", name=op.f("pk_swap_request")),
        schema=S,
    )
    op.create_index(
        "ix_swap_request_center", "swap_request", ["duty_center_id", "requested_at"], schema=S
    )

    op.create_table(
        "duty_alert",
        sa.Column("alert_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("duty_center_id", sa.String(64)),
        sa.Column("dedupe_key", sa.String(255), nullable=False),
        sa.Column("shift_id", sa.String(128)),
        sa.Column("alarm_id", sa.String(64)),
        sa.Column("detail", sa.String(500), nullable=False),
        _ts("raised_at"),
        _ts("resolved_at", True),
        sa.CheckConstraint(
            "kind IN ('missed_check_in', 'nobody_on_duty', 'unreached_alarm')",
            name=op.f("ck_duty_alert_kind"),
        ),
        sa.PrimaryKeyConstraint("alert_id", name=op.f("pk_duty_alert")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_duty_alert_dedupe_key")),
        schema=S,
    )
    op.create_index(
        "ix_duty_alert_open",
        "duty_alert",
        ["kind", "duty_center_id"],
        schema=S,
        postgresql_where=sa.text("resolved_at IS NULL"),
    )
    op.create_index("ix_duty_alert_raised_at", "duty_alert", ["raised_at", "alert_id"], schema=S)

    op.create_table(
        "handover",
        sa.Column("handover_id", sa.String(36), nullable=False),
        sa.Column("duty_center_id", sa.String(64), nullable=False),
        sa.Column("from_person_id", sa.String(64), nullable=False),
        sa.Column("to_person_id", sa.String(64)),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("open_alarms", postgresql.JSONB(), nullable=False),
        sa.Column("open_work_orders", postgresql.JSONB(), nullable=False),
        _ts("written_at"),
        _ts("acknowledged_at", True),
        sa.Column("acknowledged_by", sa.String(64)),
        sa.ForeignKeyConstraint(
            ["duty_center_id"],
            [f"{S}.duty_center.duty_center_id"],
            name=op.f("fk_handover_duty_center_id_duty_center"),
        ),
        sa.PrimaryKeyConstraint("handover_id", name=op.f("pk_handover")),
        schema=S,
    )
    op.create_index("ix_handover_center", "handover", ["duty_center_id", "written_at"], schema=S)

    op.create_table(
        "routing_policy",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("rules", postgresql.JSONB(), nullable=False),
        sa.Column("note", sa.String(500)),
        sa.Column("created_by", sa.String(64), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_routing_policy")),
        schema=S,
    )

    op.create_table(
        "open_item",
        sa.Column("item_kind", sa.String(16), nullable=False),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("alarm_id", sa.String(64), nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("sector_id", sa.String(48), nullable=False),
        sa.Column("town_id", sa.String(48)),
        sa.Column("device_id", sa.String(128), nullable=False),
        _ts("opened_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("item_kind", "item_id", name=op.f("pk_open_item")),
        schema=S,
    )
    op.create_index("ix_open_item_sector", "open_item", ["sector_id"], schema=S)
    op.create_index("ix_open_item_town", "open_item", ["town_id"], schema=S)

    op.add_column(
        "notification",
        sa.Column("topic", sa.String(16), nullable=False, server_default=sa.text("'alarm'")),
        schema=S,
    )
    for column in ("alarm_id", "level", "alarm_received_at"):
        op.alter_column("notification", column, nullable=True, schema=S)
    op.create_check_constraint(
        op.f("ck_notification_topic"),
        "notification",
        "topic IN ('alarm', 'roster', 'check_in')",
        schema=S,
    )
    op.create_check_constraint(
        op.f("ck_notification_alarm_fields"),
        "notification",
        "topic <> 'alarm' OR (alarm_id IS NOT NULL AND level IS NOT NULL"
        " AND alarm_received_at IS NOT NULL)",
        schema=S,
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_notification_alarm_fields"), "notification", schema=S)
    op.drop_constraint(op.f("ck_notification_topic"), "notification", schema=S)
    op.execute("DELETE FROM notify.notification WHERE topic <> 'alarm'")
    for column in ("alarm_id", "level", "alarm_received_at"):
        op.alter_column("notification", column, nullable=False, schema=S)
    op.drop_column("notification", "topic", schema=S)
    for table in ("open_item", "routing_policy", "handover", "duty_alert", "swap_request"):
        op.drop_table(table, schema=S)
    op.execute("DELETE FROM notify.shift")
    op.drop_index("ix_shift_roster_id", "shift", schema=S)
    op.drop_index("ix_shift_person_id", "shift", schema=S)
    op.drop_index("ix_shift_on_duty", "shift", schema=S)
    op.drop_constraint(op.f("fk_shift_roster_id_roster"), "shift", schema=S)
    for column in (
        "checked_in_late",
        "checked_in_via",
        "checked_in_at",
        "published",
        "template",
        "roster_id",
    ):
        op.drop_column("shift", column, schema=S)
    op.create_index("ix_shift_person_id", "shift", ["person_id"], schema=S)
    op.create_index(
        "ix_shift_on_duty", "shift", ["duty_center_id", "ends_at", "starts_at"], schema=S
    )
    op.drop_table("roster", schema=S)
    op.drop_index("ix_person_phone", "person", schema=S)
    op.add_column("person", sa.Column("duty_center_id", sa.String(64)), schema=S)
    op.execute(
        "UPDATE notify.person p SET duty_center_id = m.duty_center_id FROM notify.duty_member m "
        "WHERE m.person_id = p.person_id"
    )
    op.execute("DELETE FROM notify.person WHERE duty_center_id IS NULL")
    op.alter_column("person", "duty_center_id", nullable=False, schema=S)
    op.create_foreign_key(
        "fk_person_duty_center_id_duty_center",
        "person",
        "duty_center",
        ["duty_center_id"],
        ["duty_center_id"],
        source_schema=S,
        referent_schema=S,
    )
    op.create_index("ix_person_duty_center_id", "person", ["duty_center_id"], schema=S)
    op.drop_table("duty_member", schema=S)
    op.drop_column("duty_center", "fallback_id", schema=S)
    op.drop_column("duty_center", "leader_id", schema=S)
