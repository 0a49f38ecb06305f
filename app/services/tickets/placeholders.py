"""The placeholders of a ticket's e-mails (the names the contract lists), shared by the ticket's
own mails, automation rules and template previews."""

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.organizations.models import Organization
from app.services.tickets.models import Ticket
from app.services.users.models import User

TICKET_PLACEHOLDERS = (
    "full_name",
    "app_name",
    "organization_name",
    "ticket_reference",
    "ticket_subject",
    "ticket_status",
    "ticket_priority",
    "requester_name",
    "assignee_name",
    "message_body",
)


async def _name(session: AsyncSession, user_id: uuid.UUID | None) -> str | None:
    if user_id is None:
        return None
    return await session.scalar(select(User.full_name).where(User.id == user_id))


async def ticket_values(session: AsyncSession, ticket: Ticket, *, message_body: str = "") -> dict[str, str]:
    """Every ticket placeholder but `full_name` (the recipient's, filled in by the sender)."""
    organization_name = await session.scalar(select(Organization.name).where(Organization.id == ticket.organization_id))
    requester = await _name(session, ticket.requester_id)
    return {
        "organization_name": organization_name or "",
        "ticket_reference": ticket.reference,
        "ticket_subject": ticket.subject,
        "ticket_status": ticket.status,
        "ticket_priority": ticket.priority,
        "requester_name": requester or ticket.requester_email or "",
        "assignee_name": await _name(session, ticket.assignee_id) or "nobody yet",
        "message_body": message_body,
    }
