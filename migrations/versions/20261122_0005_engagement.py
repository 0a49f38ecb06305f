"""Engagement: ratings, notifications, e-mail outbox, sent reminders, insights indexes.

Revision ID: 0005
Revises: 0002
Create Date: 2026-11-22 02:45:32.260572
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.String(length=2000), nullable=False),
        sa.Column(
            "data", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("clock_timestamp()"), nullable=False
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("notifications_user_id_fkey"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("notifications_pkey")),
    )
    op.create_index("ix_notifications_user_id_created_at", "notifications", ["user_id", "created_at"], unique=False)
    op.create_index(
        "ix_notifications_user_id_unread",
        "notifications",
        ["user_id"],
        unique=False,
        postgresql_where=sa.text("read_at IS NULL"),
    )
    op.create_table(
        "email_outbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("notification_id", sa.Uuid(), nullable=True),
        sa.Column("to_address", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('pending', 'sent', 'failed')", name=op.f("email_outbox_status_check")),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
            name=op.f("email_outbox_notification_id_fkey"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("email_outbox_pkey")),
    )
    op.create_index(
        "ix_email_outbox_due",
        "email_outbox",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(op.f("ix_email_outbox_notification_id"), "email_outbox", ["notification_id"], unique=False)
    op.create_table(
        "ratings",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("appointment_id", sa.Uuid(), nullable=False),
        sa.Column("service_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("citizen_id", sa.Uuid(), nullable=False),
        sa.Column("score", sa.SmallInteger(), nullable=False),
        sa.Column("comment", sa.String(length=2000), nullable=True),
        sa.Column("reply_body", sa.String(length=2000), nullable=True),
        sa.Column("reply_author_id", sa.Uuid(), nullable=True),
        sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("(reply_body IS NULL) = (replied_at IS NULL)", name=op.f("ratings_reply_check")),
        sa.CheckConstraint("score BETWEEN 1 AND 5", name=op.f("ratings_score_check")),
        sa.ForeignKeyConstraint(
            ["appointment_id"], ["appointments.id"], name=op.f("ratings_appointment_id_fkey"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["citizen_id"], ["users.id"], name=op.f("ratings_citizen_id_fkey"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("ratings_organization_id_fkey"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["reply_author_id"], ["users.id"], name=op.f("ratings_reply_author_id_fkey"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["service_id"], ["services.id"], name=op.f("ratings_service_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("ratings_pkey")),
        sa.UniqueConstraint("appointment_id", name=op.f("ratings_appointment_id_key")),
    )
    op.create_index(op.f("ix_ratings_citizen_id"), "ratings", ["citizen_id"], unique=False)
    op.create_index("ix_ratings_service_id_created_at", "ratings", ["service_id", "created_at"], unique=False)
    op.create_table(
        "sent_reminders",
        sa.Column("appointment_id", sa.Uuid(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("minutes_before", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["appointment_id"], ["appointments.id"], name=op.f("sent_reminders_appointment_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("appointment_id", "starts_at", "minutes_before", name=op.f("sent_reminders_pkey")),
    )
    # Insights: wait and service times from the status history, the platform summary and the
    # reminder scan by start time (see app/services/insights/models.py and bench/INSIGHTS.md).
    op.create_index(
        "ix_appointment_events_timeline",
        "appointment_events",
        ["appointment_id", "to_status", "at"],
        unique=False,
        postgresql_where=sa.text("to_status IN ('checked_in', 'in_progress', 'completed', 'cancelled')"),
    )
    op.create_index(
        "ix_appointments_organization_id_starts_at_covering",
        "appointments",
        ["organization_id", "starts_at"],
        unique=False,
        postgresql_include=["id", "service_id", "status", "created_at"],
    )
    op.create_index(
        "ix_appointments_starts_at_covering",
        "appointments",
        ["starts_at"],
        unique=False,
        postgresql_include=["id", "organization_id", "citizen_id", "status", "created_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_appointments_starts_at_covering", table_name="appointments")
    op.drop_index("ix_appointments_organization_id_starts_at_covering", table_name="appointments")
    op.drop_index("ix_appointment_events_timeline", table_name="appointment_events")
    op.drop_table("sent_reminders")
    op.drop_index("ix_ratings_service_id_created_at", table_name="ratings")
    op.drop_index(op.f("ix_ratings_citizen_id"), table_name="ratings")
    op.drop_table("ratings")
    op.drop_index(op.f("ix_email_outbox_notification_id"), table_name="email_outbox")
    op.drop_index("ix_email_outbox_due", table_name="email_outbox", postgresql_where=sa.text("status = 'pending'"))
    op.drop_table("email_outbox")
    op.drop_index(
        "ix_notifications_user_id_unread", table_name="notifications", postgresql_where=sa.text("read_at IS NULL")
    )
    op.drop_index("ix_notifications_user_id_created_at", table_name="notifications")
    op.drop_table("notifications")
