"""Construction after the sale: a project's progress updates with their photos (about one of its
milestones, `app/services/properties`), and buyers' change requests with their history.

A change request moves only by conditional updates of its row (`status` in the states a verb may
leave), so two moves racing (accept and withdraw) have one winner whatever the code above does.
"""

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, TimestampMixin
from app.services.properties.models import MONEY


class ChangeRequestStatus(StrEnum):
    requested = "requested"
    quoted = "quoted"
    declined = "declined"
    accepted = "accepted"
    rejected = "rejected"
    withdrawn = "withdrawn"


class ProgressUpdate(TimestampMixin, Base):
    __tablename__ = "progress_updates"
    __table_args__ = (Index("ix_progress_updates_project_id_created_at", "project_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    milestone_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("milestones.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(String(5000))
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class ProgressPhoto(Base):
    __tablename__ = "progress_photos"
    __table_args__ = (UniqueConstraint("progress_update_id", "position"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    progress_update_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("progress_updates.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(64), unique=True)


class ChangeRequest(TimestampMixin, Base):
    __tablename__ = "change_requests"
    __table_args__ = (
        CheckConstraint(
            "status IN ('requested', 'quoted', 'declined', 'accepted', 'rejected', 'withdrawn')", name="status"
        ),
        CheckConstraint("amount >= 0", name="amount"),
        CheckConstraint("days BETWEEN 0 AND 3650", name="days"),
        CheckConstraint("status IN ('requested', 'declined', 'withdrawn') OR amount IS NOT NULL", name="quoted"),
        Index("ix_change_requests_booking_id_created_at", "booking_id", "created_at"),
        Index("ix_change_requests_project_id_created_at", "project_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    booking_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"))
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=ChangeRequestStatus.requested)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(5000))
    amount: Mapped[Decimal | None] = mapped_column(MONEY)
    days: Mapped[int | None] = mapped_column(Integer)
    quote_note: Mapped[str | None] = mapped_column(String(2000))
    instalment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("instalments.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class ChangeRequestEvent(Base):
    __tablename__ = "change_request_events"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    change_request_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("change_requests.id", ondelete="CASCADE"), index=True
    )
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(String(2000))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.clock_timestamp())
