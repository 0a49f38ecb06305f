import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, TimestampMixin


class Status(StrEnum):
    booked = "booked"
    checked_in = "checked_in"
    in_progress = "in_progress"
    completed = "completed"
    cancelled = "cancelled"
    no_show = "no_show"


ACTIVE_STATUSES = (Status.booked, Status.checked_in, Status.in_progress)
ACTIVE_VALUES_SQL = "(" + ", ".join(f"'{status.value}'" for status in ACTIVE_STATUSES) + ")"
ACTIVE_SQL = f"status IN {ACTIVE_VALUES_SQL}"

TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.booked: frozenset({Status.checked_in, Status.cancelled, Status.no_show}),
    Status.checked_in: frozenset({Status.in_progress, Status.no_show}),
    Status.in_progress: frozenset({Status.completed}),
    Status.completed: frozenset(),
    Status.cancelled: frozenset(),
    Status.no_show: frozenset(),
}


class Appointment(TimestampMixin, Base):
    __tablename__ = "appointments"
    __table_args__ = (
        CheckConstraint(
            "status IN ('booked', 'checked_in', 'in_progress', 'completed', 'cancelled', 'no_show')", name="status"
        ),
        CheckConstraint("starts_at < ends_at", name="period"),
        # A citizen never holds two active appointments that overlap in time.
        ExcludeConstraint(
            ("citizen_id", "="),
            (func.tstzrange(text("starts_at"), text("ends_at")), "&&"),
            name="appointments_citizen_overlap_excl",
            using="gist",
            where=text(ACTIVE_SQL),
        ),
        # Nor does a patient (a clinic's record, with or without an account).
        ExcludeConstraint(
            ("patient_id", "="),
            (func.tstzrange(text("starts_at"), text("ends_at")), "&&"),
            name="appointments_patient_overlap_excl",
            using="gist",
            where=text(ACTIVE_SQL),
        ),
        Index("ix_appointments_service_id_starts_at", "service_id", "starts_at"),
        Index("ix_appointments_patient_id_starts_at", "patient_id", "starts_at"),
        Index("ix_appointments_staff_id_starts_at", "staff_id", "starts_at"),
        Index("ix_appointments_citizen_id_starts_at", "citizen_id", "starts_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    reference: Mapped[str] = mapped_column(String(12), unique=True)
    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id", ondelete="RESTRICT"))
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"))
    # The account the appointment is for; NULL for a clinic patient without an account.
    citizen_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    patient_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("patients.id", ondelete="RESTRICT"))
    staff_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default=Status.booked, server_default=Status.booked)
    notes: Mapped[str | None] = mapped_column(String(1000))
    reason: Mapped[str | None] = mapped_column(String(500))
    checked_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The first time of each later move. A trigger on `appointment_events` (migration 0007) sets
    # them from the history in the same statement, whoever writes it (this service, seed-demo):
    # insights read them from the appointments' covering indexes instead of probing the history.
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class SlotLoad(Base):
    """How many active appointments start at one slot of one service.

    The capacity guarantee: a booking increments this row with a conditional upsert
    (`... DO UPDATE SET booked = booked + 1 WHERE booked < capacity`), which PostgreSQL serialises
    per slot, so no slot ever holds more than its capacity, whatever the number of processes.
    """

    __tablename__ = "slot_loads"
    __table_args__ = (
        PrimaryKeyConstraint("service_id", "starts_at"),
        CheckConstraint("booked >= 0", name="booked"),
    )

    service_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    booked: Mapped[int] = mapped_column(Integer)


class AppointmentEvent(Base):
    """One status change (the first has no `from_status`: the booking itself)."""

    __tablename__ = "appointment_events"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    appointment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("appointments.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Set instead of `actor_id` when an organization's API key made the change.
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))
    note: Mapped[str | None] = mapped_column(String(1000))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SentReminder(Base):
    """A reminder that went out. The primary key is the claim: whichever process inserts the row
    sends the reminder, every other one finds the row and skips it. `starts_at` is part of the key
    so that a rescheduled appointment is reminded again for its new time."""

    __tablename__ = "sent_reminders"
    __table_args__ = (PrimaryKeyConstraint("appointment_id", "starts_at", "minutes_before"),)

    appointment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("appointments.id", ondelete="CASCADE"))
    starts_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    minutes_before: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
