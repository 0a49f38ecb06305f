"""Tickets, their history, categories and the SLA calendar and policies of an organization.

The SLA due times are stored on the ticket (recomputed at every change that moves them) so that
"breached" and "due within an hour" are index scans; the breach pass claims a missed target with
a conditional UPDATE on the `*_breached` flag, which is what makes it happen once.
"""

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base


class TicketStatus(StrEnum):
    new = "new"
    open = "open"
    pending = "pending"
    on_hold = "on_hold"
    solved = "solved"
    closed = "closed"


class TicketPriority(StrEnum):
    low = "low"
    normal = "normal"
    high = "high"
    urgent = "urgent"


class TicketChannel(StrEnum):
    web = "web"
    email = "email"
    api = "api"


def _values(enum: type[StrEnum]) -> str:
    return ", ".join(f"'{member.value}'" for member in enum)


MAX_SUBJECT_CHARS = 200
MAX_TAGS = 20
MAX_TAG_CHARS = 40


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        CheckConstraint(f"status IN ({_values(TicketStatus)})", name="status"),
        CheckConstraint(f"priority IN ({_values(TicketPriority)})", name="priority"),
        CheckConstraint(f"channel IN ({_values(TicketChannel)})", name="channel"),
        CheckConstraint(f"cardinality(tags) <= {MAX_TAGS}", name="tags"),
        # The staff queue: an organization's tickets of a status (and an assignee), newest first.
        Index(
            "ix_tickets_organization_id_status_assignee_id_created_at",
            "organization_id",
            "status",
            "assignee_id",
            "created_at",
            "id",
        ),
        Index("ix_tickets_organization_id_created_at", "organization_id", "created_at", "id"),
        Index("ix_tickets_requester_id_created_at", "requester_id", "created_at"),
        Index("ix_tickets_tags", "tags", postgresql_using="gin"),
        # Solved tickets whose reopen window has passed (the close pass).
        Index("ix_tickets_solved_at", "solved_at", postgresql_where=text("status = 'solved'")),
        # What the breach pass and "due within an hour" scan: only targets still open to a breach.
        Index(
            "ix_tickets_first_response_due_at",
            "first_response_due_at",
            postgresql_where=text("NOT first_response_breached AND first_response_due_at IS NOT NULL"),
        ),
        Index(
            "ix_tickets_resolution_due_at",
            "resolution_due_at",
            postgresql_where=text("NOT resolution_breached AND resolution_due_at IS NOT NULL"),
        ),
        Index(
            "ix_tickets_organization_id_breached",
            "organization_id",
            "created_at",
            postgresql_where=text("first_response_breached OR resolution_breached"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(MAX_SUBJECT_CHARS))
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    priority: Mapped[str] = mapped_column(String(16))
    category_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ticket_categories.id", ondelete="RESTRICT"))
    department_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("departments.id", ondelete="SET NULL"))
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    requester_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    requester_email: Mapped[str | None] = mapped_column(String(254))
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(MAX_TAG_CHARS)), server_default="{}")
    channel: Mapped[str] = mapped_column(String(8))
    conversation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), unique=True)
    follow_up_of: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    first_response_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolution_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_responded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    solved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_response_breached: Mapped[bool] = mapped_column(Boolean, server_default="false")
    resolution_breached: Mapped[bool] = mapped_column(Boolean, server_default="false")
    sla_paused: Mapped[bool] = mapped_column(Boolean, server_default="false")
    # Business minutes counted when the first response came and at the last solve (for reports).
    first_response_minutes: Mapped[float | None] = mapped_column(Numeric(12, 2, asdecimal=False))
    resolution_minutes: Mapped[float | None] = mapped_column(Numeric(12, 2, asdecimal=False))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TicketEvent(Base):
    """One line of a ticket's history; `data` as the contract names it per type."""

    __tablename__ = "ticket_events"
    __table_args__ = (Index("ix_ticket_events_ticket_id_id", "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    ticket_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(40))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Set instead of `actor_id` when an organization's API key made the change.
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))
    rule_id: Mapped[uuid.UUID | None] = mapped_column()
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TicketCategory(Base):
    __tablename__ = "ticket_categories"
    __table_args__ = (
        # Names are unique per organization in any case.
        Index(
            "ix_ticket_categories_organization_id_lower_name", "organization_id", func.lower(text("name")), unique=True
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    department_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("departments.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SlaCalendar(Base):
    """One version of an organization's business hours; a PUT adds a version, so the time a
    ticket counted under the previous one stays counted as it was."""

    __tablename__ = "sla_calendars"
    __table_args__ = (Index("ix_sla_calendars_organization_id_effective_from", "organization_id", "effective_from"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    # [{"weekday", "opens", "closes"}] with seconds from midnight; NULL: round the clock.
    weekly: Mapped[list[dict[str, int]] | None] = mapped_column(JSONB)
    holidays: Mapped[list[date]] = mapped_column(ARRAY(Date), server_default="{}")
    effective_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SlaPolicy(Base):
    __tablename__ = "sla_policies"
    __table_args__ = (
        CheckConstraint(f"priority IN ({_values(TicketPriority)})", name="priority"),
        CheckConstraint("first_response_minutes BETWEEN 1 AND 525600", name="first_response_minutes"),
        CheckConstraint("resolution_minutes BETWEEN 1 AND 525600", name="resolution_minutes"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    priority: Mapped[str] = mapped_column(String(16), primary_key=True)
    first_response_minutes: Mapped[int] = mapped_column(Integer)
    resolution_minutes: Mapped[int] = mapped_column(Integer)
