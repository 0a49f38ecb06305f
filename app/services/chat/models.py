import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    String,
    UniqueConstraint,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, TimestampMixin


class ConversationStatus(StrEnum):
    open = "open"
    closed = "closed"


MAX_BODY_CHARS = 4000
MAX_CLIENT_ID_CHARS = 64


class Conversation(TimestampMixin, Base):
    """A citizen talking with an organization. Its row is locked for every message inserted into it,
    which is what keeps message ids committing in order within the conversation."""

    __tablename__ = "conversations"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'closed')", name="status"),
        Index("ix_conversations_organization_id_last_activity_at", "organization_id", "last_activity_at"),
        Index("ix_conversations_citizen_id_last_activity_at", "citizen_id", "last_activity_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    citizen_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    appointment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("appointments.id", ondelete="SET NULL"), index=True
    )
    subject: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=ConversationStatus.open, server_default="open")
    last_message_id: Mapped[int | None] = mapped_column(BigInteger)
    last_activity_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class ChatMessage(Base):
    __tablename__ = "chat_messages"
    __table_args__ = (
        # Idempotent sending: one message per (conversation, sender, client_id).
        UniqueConstraint("conversation_id", "sender_id", "client_id"),
        Index("ix_chat_messages_conversation_id_id", "conversation_id", "id"),
        CheckConstraint(f"char_length(body) BETWEEN 1 AND {MAX_BODY_CHARS}", name="body"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    conversation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    sender_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(String(MAX_BODY_CHARS))
    client_id: Mapped[str | None] = mapped_column(String(MAX_CLIENT_ID_CHARS))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # An internal note: seen by the organization's members only (never the citizen, on any channel).
    internal: Mapped[bool] = mapped_column(Boolean, server_default="false")
    via: Mapped[str] = mapped_column(String(8), server_default="web")
    author_email: Mapped[str | None] = mapped_column(String(254))
    document_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid), server_default="{}")


class ReadMarker(Base):
    """How far one user has read one conversation (only ever moves forward)."""

    __tablename__ = "chat_read_markers"

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    last_read_message_id: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
