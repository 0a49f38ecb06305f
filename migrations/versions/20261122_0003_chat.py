"""Chat: conversations, messages, read markers; the live hub's presence and stored frames.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 03:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("citizen_id", sa.Uuid(), nullable=False),
        sa.Column("appointment_id", sa.Uuid(), nullable=True),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="open", nullable=False),
        sa.Column("last_message_id", sa.BigInteger(), nullable=True),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('open', 'closed')", name=op.f("conversations_status_check")),
        sa.ForeignKeyConstraint(
            ["appointment_id"], ["appointments.id"], name=op.f("conversations_appointment_id_fkey"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["citizen_id"], ["users.id"], name=op.f("conversations_citizen_id_fkey"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["closed_by_id"], ["users.id"], name=op.f("conversations_closed_by_id_fkey"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("conversations_organization_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("conversations_pkey")),
    )
    op.create_index(op.f("ix_conversations_appointment_id"), "conversations", ["appointment_id"], unique=False)
    op.create_index(
        "ix_conversations_citizen_id_last_activity_at",
        "conversations",
        ["citizen_id", "last_activity_at"],
        unique=False,
    )
    op.create_index(
        "ix_conversations_organization_id_last_activity_at",
        "conversations",
        ["organization_id", "last_activity_at"],
        unique=False,
    )
    op.create_table(
        "chat_messages",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("sender_id", sa.Uuid(), nullable=False),
        sa.Column("body", sa.String(length=4000), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("char_length(body) BETWEEN 1 AND 4000", name=op.f("chat_messages_body_check")),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("chat_messages_conversation_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sender_id"], ["users.id"], name=op.f("chat_messages_sender_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("chat_messages_pkey")),
        sa.UniqueConstraint(
            "conversation_id",
            "sender_id",
            "client_id",
            name=op.f("chat_messages_conversation_id_sender_id_client_id_key"),
        ),
    )
    op.create_index("ix_chat_messages_conversation_id_id", "chat_messages", ["conversation_id", "id"], unique=False)
    op.create_table(
        "chat_read_markers",
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("last_read_message_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("chat_read_markers_conversation_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("chat_read_markers_user_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("conversation_id", "user_id", name=op.f("chat_read_markers_pkey")),
    )
    op.create_table(
        "realtime_presence",
        sa.Column("process_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("process_id", "user_id", name=op.f("realtime_presence_pkey")),
    )
    op.create_index("ix_realtime_presence_user_id_seen_at", "realtime_presence", ["user_id", "seen_at"], unique=False)
    op.create_table(
        "realtime_frames",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("frame", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("realtime_frames_pkey")),
    )
    op.create_index(op.f("ix_realtime_frames_created_at"), "realtime_frames", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_realtime_frames_created_at"), table_name="realtime_frames")
    op.drop_table("realtime_frames")
    op.drop_index("ix_realtime_presence_user_id_seen_at", table_name="realtime_presence")
    op.drop_table("realtime_presence")
    op.drop_table("chat_read_markers")
    op.drop_index("ix_chat_messages_conversation_id_id", table_name="chat_messages")
    op.drop_table("chat_messages")
    op.drop_index("ix_conversations_organization_id_last_activity_at", table_name="conversations")
    op.drop_index("ix_conversations_citizen_id_last_activity_at", table_name="conversations")
    op.drop_index(op.f("ix_conversations_appointment_id"), table_name="conversations")
    op.drop_table("conversations")
