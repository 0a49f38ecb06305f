"""A buyer's request to change their unit, quoted by the builder and accepted or not by the buyer."""

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, TimestampMixin
from app.services.properties.models import MONEY


class ChangeStatus(StrEnum):
    requested = "requested"
    quoted = "quoted"
    declined = "declined"
    accepted = "accepted"
    rejected = "rejected"
    withdrawn = "withdrawn"


class ChangeRequest(TimestampMixin, Base):
    __tablename__ = "change_requests"
    __table_args__ = (
        CheckConstraint(
            "status IN ('requested', 'quoted', 'declined', 'accepted', 'rejected', 'withdrawn')", name="status"
        ),
        CheckConstraint("amount >= 0", name="amount"),
        CheckConstraint("days BETWEEN 0 AND 3650", name="days"),
        Index("ix_change_requests_booking_id_created_at", "booking_id", "created_at"),
        Index("ix_change_requests_project_id_created_at", "project_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    booking_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"))
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default=ChangeStatus.requested)
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
