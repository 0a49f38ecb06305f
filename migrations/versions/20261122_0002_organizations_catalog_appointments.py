"""Organizations, catalogue (services, opening hours, closures) and appointments.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 02:39:47.952850
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # uuid equality inside a GiST exclusion constraint needs btree_gist (a trusted extension).
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.create_table(
        "organizations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=500), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "kind IN ('government', 'clinic', 'property', 'business')", name=op.f("organizations_kind_check")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("organizations_pkey")),
    )
    op.create_table(
        "departments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("departments_organization_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("departments_pkey")),
        sa.UniqueConstraint("organization_id", "name", name=op.f("departments_organization_id_name_key")),
    )
    op.create_table(
        "memberships",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=True),
        sa.Column("department_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("role IN ('owner', 'manager', 'staff')", name=op.f("memberships_role_check")),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name=op.f("memberships_department_id_fkey"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("memberships_organization_id_fkey"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("memberships_user_id_fkey"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("organization_id", "user_id", name=op.f("memberships_pkey")),
    )
    op.create_index(op.f("ix_memberships_user_id"), "memberships", ["user_id"], unique=False)
    op.create_table(
        "services",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("department_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("slot_minutes", sa.Integer(), nullable=True),
        sa.Column("min_notice_minutes", sa.Integer(), server_default="0", nullable=False),
        sa.Column("max_days_ahead", sa.Integer(), server_default="60", nullable=False),
        sa.Column("rating_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rating_total", sa.Integer(), server_default="0", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("capacity BETWEEN 1 AND 1000", name=op.f("services_capacity_check")),
        sa.CheckConstraint("duration_minutes BETWEEN 5 AND 720", name=op.f("services_duration_check")),
        sa.CheckConstraint("max_days_ahead BETWEEN 0 AND 730", name=op.f("services_max_days_ahead_check")),
        sa.CheckConstraint("min_notice_minutes >= 0", name=op.f("services_min_notice_check")),
        sa.CheckConstraint(
            "slot_minutes IS NULL OR slot_minutes >= duration_minutes", name=op.f("services_slot_minutes_check")
        ),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name=op.f("services_department_id_fkey"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("services_organization_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("services_pkey")),
    )
    op.create_index("ix_services_organization_id", "services", ["organization_id"], unique=False)
    op.create_table(
        "appointments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("reference", sa.String(length=12), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("citizen_id", sa.Uuid(), nullable=False),
        sa.Column("staff_id", sa.Uuid(), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="booked", nullable=False),
        sa.Column("notes", sa.String(length=1000), nullable=True),
        sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        postgresql.ExcludeConstraint(
            (sa.column("citizen_id"), "="),
            (sa.text("tstzrange(starts_at, ends_at)"), "&&"),
            where=sa.text("status IN ('booked', 'checked_in', 'in_progress')"),
            using="gist",
            name="appointments_citizen_overlap_excl",
        ),
        sa.CheckConstraint(
            "status IN ('booked', 'checked_in', 'in_progress', 'completed', 'cancelled', 'no_show')",
            name=op.f("appointments_status_check"),
        ),
        sa.CheckConstraint("starts_at < ends_at", name=op.f("appointments_period_check")),
        sa.ForeignKeyConstraint(
            ["citizen_id"], ["users.id"], name=op.f("appointments_citizen_id_fkey"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("appointments_organization_id_fkey"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=op.f("appointments_service_id_fkey"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"], ["users.id"], name=op.f("appointments_staff_id_fkey"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("appointments_pkey")),
        sa.UniqueConstraint("reference", name=op.f("appointments_reference_key")),
    )
    op.create_index("ix_appointments_citizen_id_starts_at", "appointments", ["citizen_id", "starts_at"], unique=False)
    op.create_index(
        "ix_appointments_organization_id_starts_at", "appointments", ["organization_id", "starts_at"], unique=False
    )
    op.create_index("ix_appointments_service_id_starts_at", "appointments", ["service_id", "starts_at"], unique=False)
    op.create_table(
        "closures",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("starts_on <= ends_on", name=op.f("closures_range_check")),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=op.f("closures_service_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("closures_pkey")),
    )
    op.create_index(op.f("ix_closures_service_id"), "closures", ["service_id"], unique=False)
    op.create_table(
        "opening_hours",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("weekday", sa.SmallInteger(), nullable=False),
        sa.Column("opens", sa.Time(), nullable=False),
        sa.Column("closes", sa.Time(), nullable=False),
        sa.CheckConstraint("opens < closes", name=op.f("opening_hours_range_check")),
        sa.CheckConstraint("weekday BETWEEN 0 AND 6", name=op.f("opening_hours_weekday_check")),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=op.f("opening_hours_service_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("opening_hours_pkey")),
    )
    op.create_index(op.f("ix_opening_hours_service_id"), "opening_hours", ["service_id"], unique=False)
    op.create_table(
        "requirements",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("mandatory", sa.Boolean(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=op.f("requirements_service_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("requirements_pkey")),
    )
    op.create_index(op.f("ix_requirements_service_id"), "requirements", ["service_id"], unique=False)
    op.create_table(
        "slot_loads",
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("booked", sa.Integer(), nullable=False),
        sa.CheckConstraint("booked >= 0", name=op.f("slot_loads_booked_check")),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=op.f("slot_loads_service_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("service_id", "starts_at", name=op.f("slot_loads_pkey")),
    )
    op.create_table(
        "appointment_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("appointment_id", sa.Uuid(), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("appointment_events_actor_id_fkey"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("appointment_events_appointment_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("appointment_events_pkey")),
    )
    op.create_index(
        op.f("ix_appointment_events_appointment_id"), "appointment_events", ["appointment_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_appointment_events_appointment_id"), table_name="appointment_events")
    op.drop_table("appointment_events")
    op.drop_table("slot_loads")
    op.drop_index(op.f("ix_requirements_service_id"), table_name="requirements")
    op.drop_table("requirements")
    op.drop_index(op.f("ix_opening_hours_service_id"), table_name="opening_hours")
    op.drop_table("opening_hours")
    op.drop_index(op.f("ix_closures_service_id"), table_name="closures")
    op.drop_table("closures")
    op.drop_index("ix_appointments_service_id_starts_at", table_name="appointments")
    op.drop_index("ix_appointments_organization_id_starts_at", table_name="appointments")
    op.drop_index("ix_appointments_citizen_id_starts_at", table_name="appointments")
    op.drop_table("appointments")
    op.drop_index("ix_services_organization_id", table_name="services")
    op.drop_table("services")
    op.drop_index(op.f("ix_memberships_user_id"), table_name="memberships")
    op.drop_table("memberships")
    op.drop_table("departments")
    op.drop_table("organizations")
