"""Property: settings, projects, milestones, units, holds, payment plans, unit bookings, instalments, payments, change requests.

A unit's sale state lives on its row (`hold_id`, `held_until`, `booking_id`, `sale_status`), changed
only by conditional updates; `ix_bookings_unit_id_active` keeps one active booking per unit and
`instalments_paid_check` keeps every instalment's paid amount within it.

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-07 16:22:46.887501
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("city", sa.String(length=100), nullable=False),
        sa.Column("address", sa.String(length=500), nullable=True),
        sa.Column("description", sa.String(length=5000), nullable=True),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=True),
        sa.Column("handover_on", sa.Date(), nullable=True),
        sa.Column("completed_on", sa.Date(), nullable=True),
        sa.Column("amenities", postgresql.ARRAY(sa.String(length=100)), server_default="{}", nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("published", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "(status = 'completed') = (completed_on IS NOT NULL)", name=op.f("projects_completed_on_check")
        ),
        sa.CheckConstraint(
            "status IN ('planned', 'under_construction', 'completed')", name=op.f("projects_status_check")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("projects_organization_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("projects_pkey")),
    )
    op.create_index(
        "ix_projects_city_lower",
        "projects",
        [sa.literal_column("lower(city)"), "created_at"],
        unique=False,
        postgresql_where=sa.text("published"),
    )
    op.create_index(
        "ix_projects_organization_id_created_at", "projects", ["organization_id", "created_at"], unique=False
    )
    op.create_index(
        "ix_projects_published_created_at",
        "projects",
        ["created_at"],
        unique=False,
        postgresql_where=sa.text("published"),
    )
    op.create_table(
        "milestones",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("planned_on", sa.Date(), nullable=True),
        sa.Column("percent_complete", sa.Integer(), nullable=False),
        sa.Column("completed_on", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("percent_complete BETWEEN 0 AND 100", name=op.f("milestones_percent_complete_check")),
        sa.CheckConstraint("position > 0", name=op.f("milestones_position_check")),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("milestones_project_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("milestones_pkey")),
        sa.UniqueConstraint("project_id", "position", name=op.f("milestones_project_id_position_key")),
    )
    op.create_table(
        "property_settings",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("hold_minutes", sa.Integer(), nullable=False),
        sa.Column("max_holds_per_customer", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("hold_minutes BETWEEN 1 AND 1440", name=op.f("property_settings_hold_minutes_check")),
        sa.CheckConstraint(
            "max_holds_per_customer BETWEEN 1 AND 20", name=op.f("property_settings_max_holds_per_customer_check")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("property_settings_organization_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organization_id", name=op.f("property_settings_pkey")),
    )
    op.create_table(
        "receipt_counters",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("receipt_counters_organization_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organization_id", name=op.f("receipt_counters_pkey")),
    )
    op.create_table(
        "payment_plans",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("payment_plans_organization_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("payment_plans_project_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("payment_plans_pkey")),
    )
    op.create_index(op.f("ix_payment_plans_project_id"), "payment_plans", ["project_id"], unique=False)
    op.create_table(
        "units",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("floor", sa.Integer(), nullable=False),
        sa.Column("bedrooms", sa.Integer(), nullable=False),
        sa.Column("area_m2", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("price", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("hold_id", sa.Uuid(), nullable=True),
        sa.Column("held_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("booking_id", sa.Uuid(), nullable=True),
        sa.Column("sale_status", sa.String(length=16), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("sale_status IN ('reserved', 'sold')", name=op.f("units_sale_status_check")),
        sa.CheckConstraint(
            "type IN ('apartment', 'villa', 'house', 'plot', 'office', 'retail', 'parking')",
            name=op.f("units_type_check"),
        ),
        sa.CheckConstraint("(hold_id IS NULL) = (held_until IS NULL)", name=op.f("units_hold_check")),
        sa.CheckConstraint("(sale_status IS NULL) = (booking_id IS NULL)", name=op.f("units_booking_check")),
        sa.CheckConstraint("area_m2 > 0", name=op.f("units_area_m2_check")),
        sa.CheckConstraint("bedrooms BETWEEN 0 AND 20", name=op.f("units_bedrooms_check")),
        sa.CheckConstraint("floor BETWEEN -5 AND 200", name=op.f("units_floor_check")),
        sa.CheckConstraint("price > 0", name=op.f("units_price_check")),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("units_organization_id_fkey"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("units_project_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("units_pkey")),
        sa.UniqueConstraint("booking_id", name=op.f("units_booking_id_key")),
    )
    op.create_index(op.f("ix_units_organization_id"), "units", ["organization_id"], unique=False)
    op.create_index(
        "ix_units_project_id_covering",
        "units",
        ["project_id"],
        unique=False,
        postgresql_include=["price", "sale_status", "held_until"],
    )
    op.create_index(
        "ix_units_project_id_bedrooms_price_unsold",
        "units",
        ["project_id", "bedrooms", "price"],
        unique=False,
        postgresql_include=["held_until"],
        postgresql_where=sa.text("sale_status IS NULL"),
    )
    op.create_index("ix_units_project_id_code", "units", ["project_id", sa.literal_column("lower(code)")], unique=True)
    op.create_table(
        "holds",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("unit_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("state IN ('active', 'released', 'booked')", name=op.f("holds_state_check")),
        sa.ForeignKeyConstraint(["customer_id"], ["users.id"], name=op.f("holds_customer_id_fkey"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("holds_organization_id_fkey"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("holds_project_id_fkey"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("holds_unit_id_fkey"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("holds_pkey")),
    )
    op.create_index("ix_holds_customer_id_created_at", "holds", ["customer_id", "created_at"], unique=False)
    op.create_index(
        "ix_holds_customer_id_organization_id_active",
        "holds",
        ["customer_id", "organization_id", "expires_at"],
        unique=False,
        postgresql_where=sa.text("state = 'active'"),
    )
    op.create_index("ix_holds_project_id_created_at", "holds", ["project_id", "created_at"], unique=False)
    op.create_index(op.f("ix_holds_unit_id"), "holds", ["unit_id"], unique=False)
    op.create_table(
        "payment_plan_instalments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("percent", sa.Numeric(precision=7, scale=4), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("milestone_id", sa.Uuid(), nullable=True),
        sa.Column("offset_days", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "(trigger = 'date') = (due_on IS NOT NULL)", name=op.f("payment_plan_instalments_due_on_check")
        ),
        sa.CheckConstraint(
            "trigger IN ('booking', 'date', 'milestone', 'handover')",
            name=op.f("payment_plan_instalments_trigger_check"),
        ),
        sa.CheckConstraint("offset_days BETWEEN 0 AND 3650", name=op.f("payment_plan_instalments_offset_days_check")),
        sa.CheckConstraint("percent > 0 AND percent <= 100", name=op.f("payment_plan_instalments_percent_check")),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["payment_plans.id"], name=op.f("payment_plan_instalments_plan_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("payment_plan_instalments_pkey")),
        sa.UniqueConstraint("plan_id", "position", name=op.f("payment_plan_instalments_plan_id_position_key")),
    )
    op.create_table(
        "bookings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("reference", sa.String(length=16), nullable=False),
        sa.Column("unit_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("hold_id", sa.Uuid(), nullable=False),
        sa.Column("payment_plan_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("price", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("booked_on", sa.Date(), nullable=False),
        sa.Column("delay_days", sa.Integer(), server_default="0", nullable=False),
        sa.Column("sold_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('reserved', 'sold', 'cancelled')", name=op.f("bookings_status_check")),
        sa.CheckConstraint("price > 0", name=op.f("bookings_price_check")),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["users.id"], name=op.f("bookings_customer_id_fkey"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["hold_id"], ["holds.id"], name=op.f("bookings_hold_id_fkey"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("bookings_organization_id_fkey"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["payment_plan_id"], ["payment_plans.id"], name=op.f("bookings_payment_plan_id_fkey"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("bookings_project_id_fkey"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("bookings_unit_id_fkey"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("bookings_pkey")),
        sa.UniqueConstraint("hold_id", name=op.f("bookings_hold_id_key")),
        sa.UniqueConstraint("reference", name=op.f("bookings_reference_key")),
    )
    op.create_index("ix_bookings_customer_id_created_at", "bookings", ["customer_id", "created_at"], unique=False)
    op.create_index("ix_bookings_project_id_created_at", "bookings", ["project_id", "created_at"], unique=False)
    op.create_index(
        "ix_bookings_unit_id_active",
        "bookings",
        ["unit_id"],
        unique=True,
        postgresql_where=sa.text("status IN ('reserved', 'sold')"),
    )
    op.create_table(
        "booking_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("booking_id", sa.Uuid(), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("clock_timestamp()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("booking_events_actor_id_fkey"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["booking_id"], ["bookings.id"], name=op.f("booking_events_booking_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("booking_events_pkey")),
    )
    op.create_index(op.f("ix_booking_events_booking_id"), "booking_events", ["booking_id"], unique=False)
    op.create_table(
        "instalments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("booking_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), server_default="plan", nullable=False),
        sa.Column("change_request_id", sa.Uuid(), nullable=True),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("milestone_id", sa.Uuid(), nullable=True),
        sa.Column("offset_days", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("amount", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("paid", sa.Numeric(precision=19, scale=4), server_default="0", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("kind IN ('plan', 'change_request')", name=op.f("instalments_kind_check")),
        sa.CheckConstraint("amount >= 0", name=op.f("instalments_amount_check")),
        sa.CheckConstraint("paid >= 0 AND paid <= amount", name=op.f("instalments_paid_check")),
        sa.ForeignKeyConstraint(
            ["booking_id"], ["bookings.id"], name=op.f("instalments_booking_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("instalments_pkey")),
        sa.UniqueConstraint("booking_id", "position", name=op.f("instalments_booking_id_position_key")),
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("booking_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("receipt_number", sa.Integer(), nullable=False),
        sa.Column("balance_after", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.Column("recorded_by", sa.Uuid(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "method IN ('bank_transfer', 'card', 'cash', 'cheque', 'other')", name=op.f("payments_method_check")
        ),
        sa.CheckConstraint("amount > 0", name=op.f("payments_amount_check")),
        sa.ForeignKeyConstraint(
            ["booking_id"], ["bookings.id"], name=op.f("payments_booking_id_fkey"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("payments_organization_id_fkey"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"], ["users.id"], name=op.f("payments_recorded_by_fkey"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("payments_pkey")),
        sa.UniqueConstraint(
            "organization_id", "receipt_number", name=op.f("payments_organization_id_receipt_number_key")
        ),
    )
    op.create_index("ix_payments_booking_id_created_at", "payments", ["booking_id", "created_at"], unique=False)
    op.create_table(
        "payment_allocations",
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("instalment_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=19, scale=4), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("payment_allocations_amount_check")),
        sa.ForeignKeyConstraint(
            ["instalment_id"],
            ["instalments.id"],
            name=op.f("payment_allocations_instalment_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("payment_allocations_payment_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("payment_id", "instalment_id", name=op.f("payment_allocations_pkey")),
    )
    op.create_index(
        op.f("ix_payment_allocations_instalment_id"), "payment_allocations", ["instalment_id"], unique=False
    )
    op.create_table(
        "change_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("booking_id", sa.Uuid(), nullable=False),
        sa.Column("unit_id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=5000), nullable=False),
        sa.Column("amount", sa.Numeric(precision=19, scale=4), nullable=True),
        sa.Column("days", sa.Integer(), nullable=True),
        sa.Column("quote_note", sa.String(length=2000), nullable=True),
        sa.Column("instalment_id", sa.Uuid(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('requested', 'quoted', 'declined', 'accepted', 'rejected', 'withdrawn')",
            name=op.f("change_requests_status_check"),
        ),
        sa.CheckConstraint("amount >= 0", name=op.f("change_requests_amount_check")),
        sa.CheckConstraint("days BETWEEN 0 AND 3650", name=op.f("change_requests_days_check")),
        sa.ForeignKeyConstraint(
            ["booking_id"], ["bookings.id"], name=op.f("change_requests_booking_id_fkey"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["users.id"], name=op.f("change_requests_customer_id_fkey"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["instalment_id"], ["instalments.id"], name=op.f("change_requests_instalment_id_fkey"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("change_requests_organization_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("change_requests_project_id_fkey"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("change_requests_unit_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("change_requests_pkey")),
    )
    op.create_index(
        "ix_change_requests_booking_id_created_at", "change_requests", ["booking_id", "created_at"], unique=False
    )
    op.create_index(
        "ix_change_requests_project_id_created_at", "change_requests", ["project_id", "created_at"], unique=False
    )
    op.create_table(
        "change_request_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("change_request_id", sa.Uuid(), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("note", sa.String(length=2000), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("clock_timestamp()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("change_request_events_actor_id_fkey"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["change_request_id"],
            ["change_requests.id"],
            name=op.f("change_request_events_change_request_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("change_request_events_pkey")),
    )
    op.create_index(
        op.f("ix_change_request_events_change_request_id"), "change_request_events", ["change_request_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_change_request_events_change_request_id"), table_name="change_request_events")
    op.drop_table("change_request_events")
    op.drop_index("ix_change_requests_project_id_created_at", table_name="change_requests")
    op.drop_index("ix_change_requests_booking_id_created_at", table_name="change_requests")
    op.drop_table("change_requests")
    op.drop_index(op.f("ix_payment_allocations_instalment_id"), table_name="payment_allocations")
    op.drop_table("payment_allocations")
    op.drop_index("ix_payments_booking_id_created_at", table_name="payments")
    op.drop_table("payments")
    op.drop_table("instalments")
    op.drop_index(op.f("ix_booking_events_booking_id"), table_name="booking_events")
    op.drop_table("booking_events")
    op.drop_index(
        "ix_bookings_unit_id_active", table_name="bookings", postgresql_where=sa.text("status IN ('reserved', 'sold')")
    )
    op.drop_index("ix_bookings_project_id_created_at", table_name="bookings")
    op.drop_index("ix_bookings_customer_id_created_at", table_name="bookings")
    op.drop_table("bookings")
    op.drop_table("payment_plan_instalments")
    op.drop_index(op.f("ix_holds_unit_id"), table_name="holds")
    op.drop_index("ix_holds_project_id_created_at", table_name="holds")
    op.drop_index(
        "ix_holds_customer_id_organization_id_active", table_name="holds", postgresql_where=sa.text("state = 'active'")
    )
    op.drop_index("ix_holds_customer_id_created_at", table_name="holds")
    op.drop_table("holds")
    op.drop_index("ix_units_project_id_code", table_name="units")
    op.drop_index(
        "ix_units_project_id_bedrooms_price_unsold", table_name="units", postgresql_where=sa.text("sale_status IS NULL")
    )
    op.drop_index(op.f("ix_units_organization_id"), table_name="units")
    op.drop_index("ix_units_project_id_covering", table_name="units")
    op.drop_table("units")
    op.drop_index(op.f("ix_payment_plans_project_id"), table_name="payment_plans")
    op.drop_table("payment_plans")
    op.drop_table("receipt_counters")
    op.drop_table("property_settings")
    op.drop_table("milestones")
    op.drop_index("ix_projects_published_created_at", table_name="projects", postgresql_where=sa.text("published"))
    op.drop_index("ix_projects_organization_id_created_at", table_name="projects")
    op.drop_index("ix_projects_city_lower", table_name="projects", postgresql_where=sa.text("published"))
    op.drop_table("projects")
