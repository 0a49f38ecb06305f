"""Payments on unit bookings, how each was spread over the instalments, and receipt numbers."""

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, TimestampMixin
from app.services.properties.models import MONEY


class Payment(TimestampMixin, Base):
    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount"),
        CheckConstraint("method IN ('bank_transfer', 'card', 'cash', 'cheque', 'other')", name="method"),
        UniqueConstraint("organization_id", "receipt_number"),
        Index("ix_payments_booking_id_created_at", "booking_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    booking_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"))
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    amount: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    paid_on: Mapped[date] = mapped_column(Date)
    method: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str | None] = mapped_column(String(100))
    receipt_number: Mapped[int] = mapped_column(Integer)
    balance_after: Mapped[Decimal] = mapped_column(MONEY)
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class PaymentAllocation(Base):
    """A share of a payment given to one instalment; never moved once written."""

    __tablename__ = "payment_allocations"
    __table_args__ = (CheckConstraint("amount > 0", name="amount"),)

    payment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payments.id", ondelete="CASCADE"), primary_key=True)
    instalment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("instalments.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    amount: Mapped[Decimal] = mapped_column(MONEY)


class ReceiptCounter(Base):
    """The last receipt number of an organization: numbers increase per organization."""

    __tablename__ = "receipt_counters"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    last_number: Mapped[int] = mapped_column(Integer)
