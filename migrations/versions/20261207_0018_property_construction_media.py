"""Property, part 2: progress updates and their photos, project media (models and images).
Milestones and change requests came with part 1's migration (0014).

Revision ID: 0018
Revises: 0013
Create Date: 2026-12-07 16:56:16.420575
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "progress_updates",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("milestone_id", sa.Uuid(), nullable=True),
        sa.Column("body", sa.String(length=5000), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("progress_updates_author_id_fkey"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["milestone_id"], ["milestones.id"], name=op.f("progress_updates_milestone_id_fkey"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("progress_updates_organization_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("progress_updates_project_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("progress_updates_pkey")),
    )
    op.create_index(
        "ix_progress_updates_project_id_created_at", "progress_updates", ["project_id", "created_at"], unique=False
    )
    op.create_table(
        "project_media",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("unit_id", sa.Uuid(), nullable=True),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("kind IN ('model', 'image')", name=op.f("project_media_kind_check")),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("project_media_organization_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("project_media_project_id_fkey"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["units.id"], name=op.f("project_media_unit_id_fkey"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("project_media_pkey")),
        sa.UniqueConstraint("storage_key", name=op.f("project_media_storage_key_key")),
    )
    op.create_index(
        "ix_project_media_project_id_created_at", "project_media", ["project_id", "created_at"], unique=False
    )
    op.create_index(op.f("ix_project_media_unit_id"), "project_media", ["unit_id"], unique=False)
    op.create_table(
        "progress_photos",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("progress_update_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["progress_update_id"],
            ["progress_updates.id"],
            name=op.f("progress_photos_progress_update_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("progress_photos_pkey")),
        sa.UniqueConstraint(
            "progress_update_id", "position", name=op.f("progress_photos_progress_update_id_position_key")
        ),
        sa.UniqueConstraint("storage_key", name=op.f("progress_photos_storage_key_key")),
    )


def downgrade() -> None:
    op.drop_table("progress_photos")
    op.drop_index(op.f("ix_project_media_unit_id"), table_name="project_media")
    op.drop_index("ix_project_media_project_id_created_at", table_name="project_media")
    op.drop_table("project_media")
    op.drop_index("ix_progress_updates_project_id_created_at", table_name="progress_updates")
    op.drop_table("progress_updates")
