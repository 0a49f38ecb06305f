"""Holds, payment plans, unit bookings, their history and their instalments.

A hold's stored `state` is `active` until it is released or booked; whether an active hold has
lapsed is read from `expires_at` (shown `expired`), so nothing has to run when it lapses. The unit's
row decides who holds it (see `app/services/properties/models.py`); `bookings` adds a partial
unique index so that a unit can never have two active bookings whatever the code does.
"""

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, TimestampMixin
from app.services.properties.models import MONEY


class HoldState(StrEnum):
    """Stored states; `expired` is never stored, it is read from `expires_at`."""

    active = "active"
    released = "released"
    booked = "booked"


class HoldStatus(StrEnum):
    active = "active"
    expired = "expired"
    released = "released"
    booked = "booked"


class Trigger(StrEnum):
    booking = "booking"
    date = "date"
    milestone = "milestone"
    handover = "handover"


class BookingStatus(StrEnum):
    reserved = "reserved"
    sold = "sold"
    cancelled = "cancelled"


ACTIVE_BOOKING_SQL = "status IN ('reserved', 'sold')"


class Hold(TimestampMixin, Base):
    __tablename__ = "holds"
    __table_args__ = (
        CheckConstraint("state IN ('active', 'released', 'booked')", name="state"),
        # The per-customer limit counts these.
        Index(
            "ix_holds_customer_id_organization_id_active",
            "customer_id",
            "organization_id",
            "expires_at",
            postgresql_where=text("state = 'active'"),
        ),
        Index("ix_holds_customer_id_created_at", "customer_id", "created_at"),
        Index("ix_holds_project_id_created_at", "project_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default=HoldState.active)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class PaymentPlan(TimestampMixin, Base):
    __tablename__ = "payment_plans"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class PlanInstalment(Base):
    __tablename__ = "payment_plan_instalments"
    __table_args__ = (
        CheckConstraint("percent > 0 AND percent <= 100", name="percent"),
        CheckConstraint("trigger IN ('booking', 'date', 'milestone', 'handover')", name="trigger"),
        CheckConstraint("offset_days BETWEEN 0 AND 3650", name="offset_days"),
        CheckConstraint("(trigger = 'date') = (due_on IS NOT NULL)", name="due_on"),
        UniqueConstraint("plan_id", "position"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payment_plans.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(200))
    percent: Mapped[Decimal] = mapped_column(Numeric(7, 4))
    trigger: Mapped[str] = mapped_column(String(16))
    due_on: Mapped[date | None] = mapped_column(Date)
    milestone_id: Mapped[uuid.UUID | None] = mapped_column()
    offset_days: Mapped[int] = mapped_column(Integer, default=0)


class Booking(TimestampMixin, Base):
    __tablename__ = "bookings"
    __table_args__ = (
        CheckConstraint("status IN ('reserved', 'sold', 'cancelled')", name="status"),
        CheckConstraint("price > 0", name="price"),
        # A unit has at most one active booking, whatever the code above does.
        Index("ix_bookings_unit_id_active", "unit_id", unique=True, postgresql_where=text(ACTIVE_BOOKING_SQL)),
        Index("ix_bookings_customer_id_created_at", "customer_id", "created_at"),
        Index("ix_bookings_project_id_created_at", "project_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    unit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("units.id", ondelete="CASCADE"))
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    hold_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("holds.id", ondelete="CASCADE"), unique=True)
    payment_plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payment_plans.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(16), default=BookingStatus.reserved)
    price: Mapped[Decimal] = mapped_column(MONEY)
    currency: Mapped[str] = mapped_column(String(3))
    booked_on: Mapped[date] = mapped_column(Date)
    delay_days: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    sold_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class BookingEvent(Base):
    __tablename__ = "booking_events"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    booking_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(String(1000))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.clock_timestamp())


class Instalment(TimestampMixin, Base):
    """One line of a booking's schedule. `paid` is the sum of the payments allocated to it."""

    __tablename__ = "instalments"
    __table_args__ = (
        CheckConstraint("kind IN ('plan', 'change_request')", name="kind"),
        CheckConstraint("amount >= 0", name="amount"),
        # Never more paid than due, whatever races: the database refuses it.
        CheckConstraint("paid >= 0 AND paid <= amount", name="paid"),
        UniqueConstraint("booking_id", "position"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    booking_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("bookings.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default="plan", server_default="plan")
    change_request_id: Mapped[uuid.UUID | None] = mapped_column()
    trigger: Mapped[str] = mapped_column(String(16))
    milestone_id: Mapped[uuid.UUID | None] = mapped_column()
    offset_days: Mapped[int] = mapped_column(Integer, default=0)
    # Set at booking (booking and date triggers) or by staff; a handover line without one falls
    # due `offset_days` after the project's `completed_on` (see `schedule.due_on`).
    due_on: Mapped[date | None] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(MONEY)
    paid: Mapped[Decimal] = mapped_column(MONEY, default=Decimal(0), server_default="0")
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
