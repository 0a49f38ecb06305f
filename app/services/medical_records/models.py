"""The medical history (append-only, versioned) and the log of who read it.

An amendment is a new row that `supersedes` the version it amends; `supersedes_id` is unique, so a
version is amended at most once, and "one current version per entry" holds whatever the
concurrency: of two amendments of one version, the second insert violates the unique index. Rows
never change (a trigger refuses UPDATE and DELETE, see migration 0012), so an old version's
`superseded_by_id` is read from its successor, not stored.
"""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base


class EntryKind(StrEnum):
    diagnosis = "diagnosis"
    allergy = "allergy"
    medication = "medication"
    vital_signs = "vital_signs"
    note = "note"


class AuthorRole(StrEnum):
    doctor = "doctor"
    nurse = "nurse"


class ReaderRole(StrEnum):
    doctor = "doctor"
    nurse = "nurse"
    patient = "patient"


class AccessAction(StrEnum):
    list_entries = "list_entries"
    read_entry = "read_entry"
    read_versions = "read_versions"


class MedicalEntry(Base):
    __tablename__ = "medical_entries"
    __table_args__ = (
        CheckConstraint("kind IN ('diagnosis', 'allergy', 'medication', 'vital_signs', 'note')", name="kind"),
        CheckConstraint("author_role IN ('doctor', 'nurse')", name="author_role"),
        CheckConstraint("(version = 1) = (supersedes_id IS NULL)", name="version"),
        # A patient's record view, newest first.
        Index("ix_medical_entries_patient_id_effective_at", "patient_id", "effective_at", "id"),
        Index("ix_medical_entries_chain_id_version", "chain_id", "version", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="RESTRICT"))
    # The entry's first version: every version of one entry shares it.
    chain_id: Mapped[uuid.UUID] = mapped_column()
    version: Mapped[int] = mapped_column(Integer)
    supersedes_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("medical_entries.id", ondelete="RESTRICT"), unique=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    confidential: Mapped[bool] = mapped_column(Boolean)
    effective_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    author_name: Mapped[str] = mapped_column(String(200))
    author_role: Mapped[str] = mapped_column(String(16))
    amendment_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class AccessLogItem(Base):
    """One successful read of a patient's entries, written in the read's own transaction."""

    __tablename__ = "record_access_log"
    __table_args__ = (
        CheckConstraint("actor_role IN ('doctor', 'nurse', 'patient')", name="actor_role"),
        CheckConstraint("action IN ('list_entries', 'read_entry', 'read_versions')", name="action"),
        Index("ix_record_access_log_patient_id_at", "patient_id", "at"),
        Index("ix_record_access_log_organization_id_at", "organization_id", "at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"))
    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="RESTRICT"))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_name: Mapped[str] = mapped_column(String(200))
    actor_role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(16))
    entry_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("medical_entries.id", ondelete="RESTRICT"))
    request_id: Mapped[str | None] = mapped_column(String(128))
    # The moment of the read itself (not of its transaction's start): the log's order.
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.clock_timestamp())
