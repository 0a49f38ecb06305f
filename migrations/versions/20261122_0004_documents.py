"""Documents: uploaded files' metadata, their links to appointments and requirements, and review.

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-22 02:48:48.440795
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "documents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=False),
        sa.Column("appointment_id", sa.Uuid(), nullable=True),
        sa.Column("requirement_id", sa.Uuid(), nullable=True),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("review_note", sa.String(length=1000), nullable=True),
        sa.Column("reviewed_by", sa.Uuid(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected', 'replaced')", name=op.f("documents_status_check")
        ),
        sa.CheckConstraint(
            "requirement_id IS NULL OR appointment_id IS NOT NULL",
            name=op.f("documents_requirement_needs_appointment_check"),
        ),
        sa.CheckConstraint("size >= 0", name=op.f("documents_size_check")),
        sa.ForeignKeyConstraint(
            ["appointment_id"], ["appointments.id"], name=op.f("documents_appointment_id_fkey"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"], ["organizations.id"], name=op.f("documents_organization_id_fkey"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("documents_owner_id_fkey"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["requirement_id"], ["requirements.id"], name=op.f("documents_requirement_id_fkey"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by"], ["users.id"], name=op.f("documents_reviewed_by_fkey"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("documents_pkey")),
        sa.UniqueConstraint("storage_key", name=op.f("documents_storage_key_key")),
    )
    op.create_index(
        "ix_documents_current_per_requirement",
        "documents",
        ["appointment_id", "requirement_id"],
        unique=True,
        postgresql_where=sa.text("requirement_id IS NOT NULL AND status <> 'replaced'"),
    )
    op.create_index(
        "ix_documents_organization_id_status_created_at",
        "documents",
        ["organization_id", "status", "created_at"],
        unique=False,
    )
    op.create_index("ix_documents_owner_id_created_at", "documents", ["owner_id", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_documents_owner_id_created_at", table_name="documents")
    op.drop_index("ix_documents_organization_id_status_created_at", table_name="documents")
    op.drop_index(
        "ix_documents_current_per_requirement",
        table_name="documents",
        postgresql_where=sa.text("requirement_id IS NOT NULL AND status <> 'replaced'"),
    )
    op.drop_table("documents")
