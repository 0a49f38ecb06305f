"""Ticket attachments and API keys on tickets: `documents.ticket_id` (a document belongs to an
appointment or to a ticket, never both) and `ticket_events.api_key_id` (the key that made a change).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-08 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("documents", sa.Column("ticket_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        op.f("documents_ticket_id_fkey"), "documents", "tickets", ["ticket_id"], ["id"], ondelete="SET NULL"
    )
    op.create_check_constraint(
        op.f("documents_one_link_check"), "documents", "appointment_id IS NULL OR ticket_id IS NULL"
    )
    op.create_index(
        "ix_documents_ticket_id", "documents", ["ticket_id"], postgresql_where=sa.text("ticket_id IS NOT NULL")
    )
    op.add_column("ticket_events", sa.Column("api_key_id", sa.Uuid(), nullable=True))
    op.create_foreign_key(
        op.f("ticket_events_api_key_id_fkey"), "ticket_events", "api_keys", ["api_key_id"], ["id"], ondelete="SET NULL"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ticket_events_api_key_id_fkey"), "ticket_events", type_="foreignkey")
    op.drop_column("ticket_events", "api_key_id")
    op.drop_index("ix_documents_ticket_id", table_name="documents", postgresql_where=sa.text("ticket_id IS NOT NULL"))
    op.drop_constraint(op.f("documents_one_link_check"), "documents", type_="check")
    op.drop_constraint(op.f("documents_ticket_id_fkey"), "documents", type_="foreignkey")
    op.drop_column("documents", "ticket_id")
