import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, TimestampMixin


class DocumentStatus(StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"
    # A later upload for the same requirement took its place.
    replaced = "replaced"


class Document(TimestampMixin, Base):
    """An uploaded file: its metadata here, its bytes in the document storage under `storage_key`."""

    __tablename__ = "documents"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'rejected', 'replaced')", name="status"),
        CheckConstraint("size >= 0", name="size"),
        CheckConstraint("requirement_id IS NULL OR appointment_id IS NOT NULL", name="requirement_needs_appointment"),
        # A document belongs to an appointment or to a helpdesk ticket, never both.
        CheckConstraint("appointment_id IS NULL OR ticket_id IS NULL", name="one_link"),
        # One current document per requirement of an appointment.
        Index(
            "ix_documents_current_per_requirement",
            "appointment_id",
            "requirement_id",
            unique=True,
            postgresql_where=text("requirement_id IS NOT NULL AND status <> 'replaced'"),
        ),
        Index("ix_documents_owner_id_created_at", "owner_id", "created_at"),
        Index("ix_documents_organization_id_status_created_at", "organization_id", "status", "created_at"),
        Index("ix_documents_ticket_id", "ticket_id", postgresql_where=text("ticket_id IS NOT NULL")),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    appointment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("appointments.id", ondelete="CASCADE"))
    requirement_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("requirements.id", ondelete="SET NULL"))
    # The appointment's organization, kept here so that staff lists and access checks need no join.
    organization_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    # A helpdesk ticket's attachment: read by the ticket's organization and, once on a public
    # message of its thread, by its requester (the tickets feature links it; see `get_visible`).
    ticket_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=DocumentStatus.pending, server_default="pending")
    review_note: Mapped[str | None] = mapped_column(String(1000))
    reviewed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
