"""E-mail templates per organization: the built-in kinds (the file templates of notifications,
overridable; deleting the override brings the file back) and custom ones (sent by automation
rules). Placeholders are checked when a template is written, so a mail never goes out with a
`$name` nobody fills in; `$$` is a dollar sign."""

import re
import uuid
from collections.abc import Iterable
from datetime import datetime
from string import Template
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.email_templates.errors import (
    EmailTemplateNotFound,
    InvalidPreviewTicket,
    InvalidTemplateKey,
    UnknownPlaceholder,
)
from app.services.email_templates.schemas import (
    EmailTemplateIn,
    EmailTemplatePreview,
    EmailTemplatePreviewIn,
    EmailTemplateRead,
)
from app.services.notifications import service as notifications_service
from app.services.notifications.models import EmailTemplate
from app.services.organizations.models import Organization
from app.services.tickets.models import Ticket
from app.services.tickets.placeholders import TICKET_PLACEHOLDERS, ticket_values

KEY = re.compile(r"^[a-z][a-z0-9_]{2,63}$")
_NOTIFICATION = ("title", "body")
# The built-in kinds: the e-mails the helpdesk sends (and the appointment reminder).
BUILT_IN: dict[str, tuple[str, ...]] = {
    "ticket_created": (*TICKET_PLACEHOLDERS, *_NOTIFICATION),
    "ticket_reply": (*TICKET_PLACEHOLDERS, *_NOTIFICATION),
    "ticket_solved": (*TICKET_PLACEHOLDERS, *_NOTIFICATION),
    "ticket_assigned": (*TICKET_PLACEHOLDERS, *_NOTIFICATION),
    "sla_breached": (*TICKET_PLACEHOLDERS, *_NOTIFICATION, "target"),
    "reminder": (
        "full_name",
        "app_name",
        *_NOTIFICATION,
        "reference",
        "service_name",
        "organization_name",
        "starts_at_local",
        "status",
    ),
}
SAMPLE = {
    "full_name": "Ada Lovelace",
    "app_name": notifications_service.APP_NAME,
    "organization_name": "City Hall",
    "ticket_reference": "K7P2QX",
    "ticket_subject": "My passport",
    "ticket_status": "open",
    "ticket_priority": "normal",
    "requester_name": "Ada Lovelace",
    "assignee_name": "Sam Staff",
    "message_body": "Your passport is ready for collection.",
    "title": "New reply: [#K7P2QX]",
    "body": "Your ticket [#K7P2QX] My passport has a new reply.",
    "target": "first_response",
    "reference": "ABC123",
    "service_name": "Passport renewal",
    "starts_at_local": "Tue 1 Dec 2026, 09:30",
    "status": "booked",
}


def placeholders_of(key: str) -> tuple[str, ...]:
    return BUILT_IN.get(key, TICKET_PLACEHOLDERS)


def check_key(key: str) -> None:
    if not KEY.match(key):
        raise InvalidTemplateKey()


def used_placeholders(text: str) -> list[str]:
    """The names a template uses; a `$` that starts no name (write `$$` for a dollar) is named as
    itself."""
    found: list[str] = []
    for match in Template.pattern.finditer(text):
        name = match.group("named") or match.group("braced")
        if name:
            found.append(name)
        elif match.group("invalid") is not None:
            found.append("$")
    return list(dict.fromkeys(found))


def check_placeholders(key: str, fields: Iterable[tuple[str, str]]) -> None:
    allowed = set(placeholders_of(key))
    unknown = [(field, name) for field, text in fields for name in used_placeholders(text) if name not in allowed]
    if unknown:
        errors: list[dict[str, Any]] = [
            {
                "loc": ["body", field],
                "msg": f"unknown placeholder ${name}" if name != "$" else "a lone $ (write $$ for a dollar)",
                "type": "unknown_placeholder",
            }
            for field, name in unknown
        ]
        names = ", ".join(dict.fromkeys("$" + name if name != "$" else "$" for _, name in unknown))
        raise UnknownPlaceholder(f"Not a placeholder of this e-mail: {names}.", errors=errors)


def _read(key: str, row: EmailTemplate | None) -> EmailTemplateRead:
    subject, body = (row.subject, row.body) if row is not None else notifications_service.default_template(key)
    return EmailTemplateRead(
        key=key, subject=subject, body=body, placeholders=list(placeholders_of(key)), customized=row is not None
    )


async def get_all(session: AsyncSession, *, organization: Organization) -> list[EmailTemplateRead]:
    rows = {
        row.key: row
        for row in await session.scalars(select(EmailTemplate).where(EmailTemplate.organization_id == organization.id))
    }
    keys = sorted(set(BUILT_IN) | set(rows))
    return [_read(key, rows.get(key)) for key in keys]


async def exists(session: AsyncSession, *, organization_id: uuid.UUID, key: str) -> bool:
    """Whether `key` names a template the organization can send (built-in or its own)."""
    if key in BUILT_IN:
        return True
    return await session.get(EmailTemplate, (organization_id, key)) is not None


async def put(
    session: AsyncSession, *, organization: Organization, key: str, data: EmailTemplateIn, now: datetime
) -> tuple[EmailTemplateRead, bool]:
    """Write the organization's template `key`; True when it is a new custom template."""
    check_key(key)
    check_placeholders(key, [("subject", data.subject), ("body", data.body)])
    row = await session.get(EmailTemplate, (organization.id, key), with_for_update=True)
    created = row is None and key not in BUILT_IN
    if row is None:
        row = EmailTemplate(organization_id=organization.id, key=key, subject=data.subject, body=data.body)
        session.add(row)
    row.subject, row.body, row.updated_at = data.subject, data.body, now
    await session.flush()
    return _read(key, row), created


async def delete(session: AsyncSession, *, organization: Organization, key: str) -> None:
    """A built-in kind returns to its default; a custom template is gone."""
    row = await session.get(EmailTemplate, (organization.id, key))
    if row is None:
        if key in BUILT_IN:
            return
        raise EmailTemplateNotFound()
    await session.delete(row)
    await session.flush()


async def preview(
    session: AsyncSession, *, organization: Organization, key: str, data: EmailTemplatePreviewIn
) -> EmailTemplatePreview:
    """The mail as it would go out: the given text (else the current template), filled with the
    ticket's values (else samples)."""
    row = await session.get(EmailTemplate, (organization.id, key))
    if row is None and key not in BUILT_IN:
        raise EmailTemplateNotFound()
    current = _read(key, row)
    subject, body = data.subject or current.subject, data.body or current.body
    check_placeholders(key, [("subject", subject), ("body", body)])
    values = dict(SAMPLE)
    if data.ticket_id is not None:
        ticket = await session.scalar(
            select(Ticket).where(Ticket.id == data.ticket_id, Ticket.organization_id == organization.id)
        )
        if ticket is None:
            raise InvalidPreviewTicket()
        values |= await ticket_values(session, ticket, message_body=ticket.description)
    subject, body = notifications_service.render_template((subject, body), values)
    return EmailTemplatePreview(subject=subject, body=body)
