import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Computed,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Sequence,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base, TimestampMixin


class Sex(StrEnum):
    female = "female"
    male = "male"
    other = "other"
    unknown = "unknown"


# Numbers for the MRNs the clinic does not choose itself (`Q0000001`, ...); one sequence for all
# clinics, so two clinics never hand out the same number, and a collision with an MRN a clinic typed
# in is simply retried with the next one.
MRN_SEQUENCE = Sequence("patients_mrn_seq", metadata=Base.metadata)


class Patient(TimestampMixin, Base):
    """A clinic's patient, with or without an account (`user_id`). Never deleted: archived."""

    __tablename__ = "patients"
    __table_args__ = (
        CheckConstraint("sex IN ('female', 'male', 'other', 'unknown')", name="sex"),
        # One record per account and clinic; NULLs (no account) never collide.
        UniqueConstraint("organization_id", "user_id"),
        # MRN and national id are unique per clinic, ignoring case.
        Index("patients_organization_id_mrn_key", "organization_id", func.lower(text("mrn")), unique=True),
        Index(
            "patients_organization_id_national_id_key", "organization_id", func.lower(text("national_id")), unique=True
        ),
        # The unfiltered list's order (name, then id) within a clinic.
        Index("ix_patients_organization_id_full_name_id", "organization_id", "full_name", "id"),
        # Search by any part of the name or of the phone's digits (ILIKE '%part%'): trigram indexes.
        Index(
            "ix_patients_full_name_trgm",
            "full_name",
            postgresql_using="gin",
            postgresql_ops={"full_name": "gin_trgm_ops"},
        ),
        Index(
            "ix_patients_phone_digits_trgm",
            "phone_digits",
            postgresql_using="gin",
            postgresql_ops={"phone_digits": "gin_trgm_ops"},
        ),
        Index("ix_patients_user_id", "user_id"),
        Index("ix_patients_assigned_doctor_id", "assigned_doctor_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"))
    mrn: Mapped[str] = mapped_column(String(64))
    national_id: Mapped[str | None] = mapped_column(String(64))
    full_name: Mapped[str] = mapped_column(String(200))
    date_of_birth: Mapped[date | None] = mapped_column(Date)
    sex: Mapped[str | None] = mapped_column(String(16))
    phone: Mapped[str | None] = mapped_column(String(32))
    phone_digits: Mapped[str | None] = mapped_column(
        String(32), Computed("regexp_replace(phone, '[^0-9]', '', 'g')", persisted=True)
    )
    email: Mapped[str | None] = mapped_column(String(254))
    address: Mapped[str | None] = mapped_column(String(500))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    assigned_doctor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    archived: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
