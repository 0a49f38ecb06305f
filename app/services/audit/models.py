"""The audit log: who did what to whom, one row per action, never changed or deleted.

Append-only in the database as well: a trigger (migration 0011) refuses every UPDATE and DELETE
of a row, so neither the app nor a mistaken statement can rewrite history. The columns name
other rows by id without foreign keys, for the same reason: a deleted user must not cascade
into (or be blocked by) the entries about them.
"""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, DateTime, Identity, Index, String, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base


class ActorType(StrEnum):
    user = "user"
    api_key = "api_key"
    anonymous = "anonymous"
    system = "system"


class AuditEntry(Base):
    __tablename__ = "audit_entries"
    __table_args__ = (
        CheckConstraint("actor_type IN ('user', 'api_key', 'anonymous', 'system')", name="actor_type"),
        Index("ix_audit_entries_at_id", "at", "id"),
        Index("ix_audit_entries_organization_id_at", "organization_id", "at"),
        Index("ix_audit_entries_target_id_at", "target_id", "at"),
        Index("ix_audit_entries_actor_id_at", "actor_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # clock_timestamp(), not now(): entries of one transaction keep the order they were written in.
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("clock_timestamp()"))
    action: Mapped[str] = mapped_column(String(64))
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    organization_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    request_id: Mapped[str | None] = mapped_column(String(128))
    client_address: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
