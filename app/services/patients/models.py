"""A clinic's patients, and `patient_name_suffixes`, the index of their names that the search reads.

A search by any part of the name (`q`) is a prefix of some suffix of the lowercased name.
`patient_name_suffixes` holds one row per character of each patient's lowercased name: the suffix
starting there (cut to `SUFFIX_CHARS`), with the patient's clinic, archived flag, id and name. A
name part is then one range of `ix_patient_name_suffixes` read from the index alone, the page's
sort (by name) included; the trigram index it replaced gave candidates that each had to be read
from the heap and rechecked, ~0.9 ms of a 1.4 ms search of 1,000,000 patients. Triggers on
`patients` (migration 0024) keep the rows in step, as PostgreSQL keeps an index.
"""

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Computed,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Sequence,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
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
        # Search by any part of the phone's digits (LIKE '%part%'): a trigram index. (Parts of the
        # name: `patient_name_suffixes` below.)
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


# How much of each suffix is kept: a longer `q` reads the range of its first `SUFFIX_CHARS`
# characters and rechecks the whole name (ILIKE) on the index's copy of it, which costs little
# since so long a part matches few names. Every row of this table is one index entry: the longer the
# cut, the bigger the index, for no faster search of the parts people type.
SUFFIX_CHARS = 16

# Derived from `patients` by triggers (never written by the app), like a second index: no key of its
# own beyond the index, no foreign key (the triggers delete a patient's rows with it). `suffix` is
# `left(substr(lower(full_name), n), SUFFIX_CHARS)` for each n, compared bytewise (COLLATE "C"),
# so that a prefix is one range whatever the database's collation; `lower()` is PostgreSQL's, the
# one ILIKE applies, so both agree on which names contain a part.
patient_name_suffixes = Table(
    "patient_name_suffixes",
    Base.metadata,
    Column("organization_id", Uuid, nullable=False),
    Column("archived", Boolean, nullable=False),
    Column("suffix", Text(collation="C"), nullable=False),
    Column("patient_id", Uuid, nullable=False),
    Column("full_name", String(200), nullable=False),
)
# A name part's matches in one clinic: one range, read from the index alone (the page sorts on the
# included name); the patient's id in the key finds its rows again when its name changes.
Index(
    "ix_patient_name_suffixes",
    patient_name_suffixes.c.organization_id,
    patient_name_suffixes.c.archived,
    patient_name_suffixes.c.suffix,
    patient_name_suffixes.c.patient_id,
    postgresql_include=["full_name"],
)
