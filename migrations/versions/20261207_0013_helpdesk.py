"""Helpdesk: tickets with their history, categories, SLA calendar versions and policies.

Due times are stored on the ticket with partial indexes over the targets still open to a breach,
so the breach pass and "due within an hour" are index scans.

Revision ID: 0013
Revises: 0014
Create Date: 2026-12-07 16:18:31.352238
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The ticket thread on chat: internal notes, the channel a message came by, its documents.
    op.add_column("chat_messages", sa.Column("internal", sa.Boolean(), server_default="false", nullable=False))
    op.add_column("chat_messages", sa.Column("via", sa.String(length=8), server_default="web", nullable=False))
    op.add_column("chat_messages", sa.Column("author_email", sa.String(length=254), nullable=True))
    op.add_column(
        "chat_messages", sa.Column("document_ids", postgresql.ARRAY(sa.Uuid()), server_default="{}", nullable=False)
    )
    op.create_table(
        "sla_calendars",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("weekly", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("holidays", postgresql.ARRAY(sa.Date()), server_default="{}", nullable=False),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("sla_calendars_organization_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("sla_calendars_pkey")),
    )
    op.create_index(
        "ix_sla_calendars_organization_id_effective_from",
        "sla_calendars",
        ["organization_id", "effective_from"],
        unique=False,
    )
    op.create_table(
        "sla_policies",
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("first_response_minutes", sa.Integer(), nullable=False),
        sa.Column("resolution_minutes", sa.Integer(), nullable=False),
        sa.CheckConstraint("priority IN ('low', 'normal', 'high', 'urgent')", name=op.f("sla_policies_priority_check")),
        sa.CheckConstraint(
            "first_response_minutes BETWEEN 1 AND 525600", name=op.f("sla_policies_first_response_minutes_check")
        ),
        sa.CheckConstraint(
            "resolution_minutes BETWEEN 1 AND 525600", name=op.f("sla_policies_resolution_minutes_check")
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("sla_policies_organization_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organization_id", "priority", name=op.f("sla_policies_pkey")),
    )
    op.create_table(
        "ticket_categories",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("department_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("ticket_categories_department_id_fkey"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("ticket_categories_organization_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("ticket_categories_pkey")),
    )
    op.create_index(
        "ix_ticket_categories_organization_id_lower_name",
        "ticket_categories",
        ["organization_id", sa.literal_column("lower(name)")],
        unique=True,
    )
    op.create_table(
        "tickets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("reference", sa.String(length=16), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("category_id", sa.Uuid(), nullable=True),
        sa.Column("department_id", sa.Uuid(), nullable=True),
        sa.Column("assignee_id", sa.Uuid(), nullable=True),
        sa.Column("requester_id", sa.Uuid(), nullable=True),
        sa.Column("requester_email", sa.String(length=254), nullable=True),
        sa.Column("tags", postgresql.ARRAY(sa.String(length=40)), server_default="{}", nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("follow_up_of", sa.Uuid(), nullable=True),
        sa.Column("first_response_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_responded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("solved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_response_breached", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("resolution_breached", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("sla_paused", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("first_response_minutes", sa.Numeric(precision=12, scale=2, asdecimal=False), nullable=True),
        sa.Column("resolution_minutes", sa.Numeric(precision=12, scale=2, asdecimal=False), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("channel IN ('web', 'email', 'api')", name=op.f("tickets_channel_check")),
        sa.CheckConstraint("priority IN ('low', 'normal', 'high', 'urgent')", name=op.f("tickets_priority_check")),
        sa.CheckConstraint(
            "status IN ('new', 'open', 'pending', 'on_hold', 'solved', 'closed')", name=op.f("tickets_status_check")
        ),
        sa.CheckConstraint("cardinality(tags) <= 20", name=op.f("tickets_tags_check")),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["users.id"], name=op.f("tickets_assignee_id_fkey"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["category_id"], ["ticket_categories.id"], name=op.f("tickets_category_id_fkey"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"], ["conversations.id"], name=op.f("tickets_conversation_id_fkey"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name=op.f("tickets_department_id_fkey"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["follow_up_of"], ["tickets.id"], name=op.f("tickets_follow_up_of_fkey"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("tickets_organization_id_fkey"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"], ["users.id"], name=op.f("tickets_requester_id_fkey"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("tickets_pkey")),
        sa.UniqueConstraint("conversation_id", name=op.f("tickets_conversation_id_key")),
        sa.UniqueConstraint("reference", name=op.f("tickets_reference_key")),
    )
    op.create_index(
        "ix_tickets_first_response_due_at",
        "tickets",
        ["first_response_due_at"],
        unique=False,
        postgresql_where=sa.text("NOT first_response_breached AND first_response_due_at IS NOT NULL"),
    )
    op.create_index(
        "ix_tickets_organization_id_breached",
        "tickets",
        ["organization_id", "created_at"],
        unique=False,
        postgresql_where=sa.text("first_response_breached OR resolution_breached"),
    )
    op.create_index(
        "ix_tickets_organization_id_created_at", "tickets", ["organization_id", "created_at", "id"], unique=False
    )
    op.create_index(
        "ix_tickets_organization_id_status_assignee_id_created_at",
        "tickets",
        ["organization_id", "status", "assignee_id", "created_at", "id"],
        unique=False,
    )
    op.create_index("ix_tickets_requester_id_created_at", "tickets", ["requester_id", "created_at"], unique=False)
    op.create_index(
        "ix_tickets_resolution_due_at",
        "tickets",
        ["resolution_due_at"],
        unique=False,
        postgresql_where=sa.text("NOT resolution_breached AND resolution_due_at IS NOT NULL"),
    )
    op.create_index(
        "ix_tickets_solved_at", "tickets", ["solved_at"], unique=False, postgresql_where=sa.text("status = 'solved'")
    )
    op.create_index("ix_tickets_tags", "tickets", ["tags"], unique=False, postgresql_using="gin")
    op.create_table(
        "ticket_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("rule_id", sa.Uuid(), nullable=True),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("ticket_events_actor_id_fkey"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("ticket_events_ticket_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("ticket_events_pkey")),
    )
    op.create_index("ix_ticket_events_ticket_id_id", "ticket_events", ["ticket_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_ticket_events_ticket_id_id", table_name="ticket_events")
    op.drop_table("ticket_events")
    op.drop_index("ix_tickets_solved_at", table_name="tickets", postgresql_where=sa.text("status = 'solved'"))
    op.drop_index("ix_tickets_tags", table_name="tickets", postgresql_using="gin")
    op.drop_index(
        "ix_tickets_resolution_due_at",
        table_name="tickets",
        postgresql_where=sa.text("NOT resolution_breached AND resolution_due_at IS NOT NULL"),
    )
    op.drop_index("ix_tickets_requester_id_created_at", table_name="tickets")
    op.drop_index("ix_tickets_organization_id_status_assignee_id_created_at", table_name="tickets")
    op.drop_index("ix_tickets_organization_id_created_at", table_name="tickets")
    op.drop_index(
        "ix_tickets_organization_id_breached",
        table_name="tickets",
        postgresql_where=sa.text("first_response_breached OR resolution_breached"),
    )
    op.drop_index(
        "ix_tickets_first_response_due_at",
        table_name="tickets",
        postgresql_where=sa.text("NOT first_response_breached AND first_response_due_at IS NOT NULL"),
    )
    op.drop_table("tickets")
    op.drop_index("ix_ticket_categories_organization_id_lower_name", table_name="ticket_categories")
    op.drop_table("ticket_categories")
    op.drop_table("sla_policies")
    op.drop_index("ix_sla_calendars_organization_id_effective_from", table_name="sla_calendars")
    op.drop_table("sla_calendars")
    op.drop_column("chat_messages", "document_ids")
    op.drop_column("chat_messages", "author_email")
    op.drop_column("chat_messages", "via")
    op.drop_column("chat_messages", "internal")
