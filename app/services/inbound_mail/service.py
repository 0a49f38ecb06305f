"""Inbound e-mail: a raw RFC 5322 message (parsed by the standard library, policy `default`)
becomes a reply in a ticket's thread or a new ticket.

Threading: the ticket named by `[#reference]` in the subject, else by `In-Reply-To`/`References`
(a message received before, or one of our ticket mails, whose Message-ID names its outbox row). It
is appended only if the sender is its requester or a member of the organization; from anyone else
(a stranger quoting a reference) the mail opens a new ticket. A closed ticket, or a solved one past
its reopen window, gets a new ticket with `follow_up_of`.

The organization's same `Message-ID` twice is one message: the first claims its row (primary key,
INSERT ... ON CONFLICT DO NOTHING) and stores its answer, a resend gets that answer back.
"""

import email
import email.policy
import hashlib
import re
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import getaddresses
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.appointments.service import new_reference
from app.services.chat import service as chat_service
from app.services.chat.models import MAX_BODY_CHARS, ChatMessage, Conversation
from app.services.documents import service as documents_service
from app.services.inbound_mail.errors import InboundNotAuthenticated, InvalidMessage
from app.services.inbound_mail.models import InboundMessage, InboundSecret
from app.services.inbound_mail.schemas import InboundResult, InboundSecretRead, RejectedAttachment
from app.services.notifications.models import Notification, OutboxEmail
from app.services.organizations.models import Membership, Organization
from app.services.tickets import events as ticket_events
from app.services.tickets import service as tickets_service
from app.services.tickets.events import TicketHappened
from app.services.tickets.models import MAX_SUBJECT_CHARS, Ticket, TicketChannel, TicketPriority, TicketStatus
from app.services.users.models import User

REFERENCE = re.compile(r"\[#([A-Z0-9]{4,16})\]")
MESSAGE_ID = re.compile(r"<([^<>\s]{1,990})>")
OUR_MESSAGE_ID = re.compile(r"^([0-9a-f]{32})@queueless\.invalid$")

# What the route gives the service to keep an attachment as a document: the document's id, or
# why it was refused (`unsupported_media_type`, `payload_too_large`, `quota_exceeded`).
AttachmentSaver = Callable[[User, str | None, bytes], Awaitable[uuid.UUID | str]]


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def new_secret(session: AsyncSession, *, organization: Organization) -> InboundSecretRead:
    """A new inbound secret for the organization (the last one stops working)."""
    secret = "qis_" + secrets.token_urlsafe(32)
    statement = insert(InboundSecret).values(organization_id=organization.id, digest=_digest(secret))
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[InboundSecret.organization_id],
            set_={"digest": statement.excluded.digest, "created_at": func.now()},
        )
    )
    return InboundSecretRead(secret=secret)


async def organization_of(session: AsyncSession, *, secret: str | None) -> Organization:
    if not secret:
        raise InboundNotAuthenticated()
    organization = await session.scalar(
        select(Organization)
        .join(InboundSecret, InboundSecret.organization_id == Organization.id)
        .where(InboundSecret.digest == _digest(secret))
    )
    if organization is None:
        raise InboundNotAuthenticated("The inbound secret is not valid.")
    return organization


# --- parsing ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Parsed:
    message: EmailMessage
    sender: str
    sender_name: str
    subject: str
    message_id: str
    references: list[str]
    text: str


def parse(raw: bytes) -> Parsed:
    try:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        from_header = message.get("From")
        subject = str(message.get("Subject") or "").strip()
        raw_id = str(message.get("Message-ID") or "")
        in_reply_to = str(message.get("In-Reply-To") or "")
        references = str(message.get("References") or "")
    except Exception as exc:  # the parser's own errors on a header it cannot read
        raise InvalidMessage(f"The message cannot be read: {type(exc).__name__}.") from exc
    if not message.keys():
        raise InvalidMessage("The body has no message headers.")
    addresses = [(name, address) for name, address in getaddresses([str(from_header or "")]) if "@" in address]
    if not addresses:
        raise InvalidMessage("The message has no From address.")
    name, address = addresses[0]
    found = MESSAGE_ID.search(raw_id)
    message_id = found.group(1) if found else "sha256:" + hashlib.sha256(raw).hexdigest()
    refs = MESSAGE_ID.findall(in_reply_to) + list(reversed(MESSAGE_ID.findall(references)))
    return Parsed(
        message=message,
        sender=address.strip().lower()[:254],
        sender_name=name.strip() or address,
        subject=subject,
        message_id=message_id,
        references=list(dict.fromkeys(refs)),
        text=_text_of(message),
    )


def _text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    text = ""
    if part is not None:
        try:
            text = str(part.get_content())
        except (LookupError, ValueError):
            text = ""
        if part.get_content_type() == "text/html":
            text = re.sub(r"<[^>]+>", " ", text)
    text = text.strip() or "(no text)"
    return text[:MAX_BODY_CHARS]


# --- threading ----------------------------------------------------------------------------------


async def _thread_ticket(session: AsyncSession, organization: Organization, parsed: Parsed) -> Ticket | None:
    found = REFERENCE.search(parsed.subject)
    if found:
        ticket = await session.scalar(
            select(Ticket).where(Ticket.reference == found.group(1), Ticket.organization_id == organization.id)
        )
        if ticket is not None:
            return ticket
    for ref in parsed.references:
        ticket_id = await session.scalar(
            select(InboundMessage.ticket_id).where(
                InboundMessage.organization_id == organization.id, InboundMessage.message_id == ref
            )
        )
        ours = OUR_MESSAGE_ID.match(ref)
        if ticket_id is None and ours:
            data = await session.scalar(
                select(Notification.data)
                .join(OutboxEmail, OutboxEmail.notification_id == Notification.id)
                .where(OutboxEmail.id == uuid.UUID(ours.group(1)))
            )
            ticket_id = uuid.UUID(data["ticket_id"]) if data and data.get("ticket_id") else None
        if ticket_id is not None:
            ticket = await session.get(Ticket, ticket_id)
            if ticket is not None and ticket.organization_id == organization.id:
                return ticket
    return None


async def _is_member(session: AsyncSession, organization: Organization, user: User | None) -> bool:
    if user is None:
        return False
    role = await session.scalar(
        select(Membership.role).where(Membership.organization_id == organization.id, Membership.user_id == user.id)
    )
    return role is not None


# --- receiving ----------------------------------------------------------------------------------


async def receive(
    session: AsyncSession,
    *,
    organization: Organization,
    raw: bytes,
    now: datetime,
    reopen_days: int,
    save_attachment: AttachmentSaver,
) -> tuple[InboundResult, bool]:
    """Append the message to its ticket or open one. Returns the answer and whether it is new."""
    parsed = parse(raw)
    claimed = await session.scalar(
        insert(InboundMessage)
        .values(organization_id=organization.id, message_id=parsed.message_id)
        .on_conflict_do_nothing()
        .returning(InboundMessage.message_id)
    )
    if claimed is None:
        answer = await session.scalar(
            select(InboundMessage.answer).where(
                InboundMessage.organization_id == organization.id, InboundMessage.message_id == parsed.message_id
            )
        )
        return InboundResult.model_validate(answer), False

    sender = await session.scalar(select(User).where(func.lower(User.email) == parsed.sender))
    is_member = await _is_member(session, organization, sender)
    ticket = await _thread_ticket(session, organization, parsed)
    follow_up_of: uuid.UUID | None = None
    if ticket is not None:
        by_requester = parsed.sender == (ticket.requester_email or "").lower() or (
            sender is not None and sender.id == ticket.requester_id
        )
        if not (by_requester or is_member):
            ticket = None  # a stranger quoting a reference: a ticket of their own
        elif ticket.status == TicketStatus.closed or (
            ticket.status == TicketStatus.solved
            and ticket.solved_at is not None
            and now >= ticket.solved_at + timedelta(days=reopen_days)
        ):
            follow_up_of, ticket = ticket.id, None

    documents: list[uuid.UUID] = []
    rejected: list[RejectedAttachment] = []
    for part in parsed.message.iter_attachments():
        filename = part.get_filename()
        if sender is None:
            rejected.append(RejectedAttachment(filename=filename, reason="no_account"))
            continue
        data = part.get_payload(decode=True)
        outcome = await save_attachment(sender, filename, data if isinstance(data, bytes) else b"")
        if isinstance(outcome, uuid.UUID):
            documents.append(outcome)
        else:
            rejected.append(RejectedAttachment(filename=filename, reason=outcome))

    if ticket is None:
        ticket, message_id = await _open(
            session, organization, parsed, sender=sender, now=now, follow_up_of=follow_up_of, documents=documents
        )
        created = True
    else:
        message_id = await _append(
            session, ticket, parsed, sender=sender, is_member=is_member, now=now, documents=documents
        )
        created = False
    result = InboundResult(
        ticket_id=ticket.id,
        message_id=message_id,
        created=created,
        document_ids=documents,
        rejected_attachments=rejected,
    )
    row = await session.get(InboundMessage, (organization.id, parsed.message_id))
    assert row is not None
    row.ticket_id, row.chat_message_id, row.answer = ticket.id, message_id, result.model_dump(mode="json")
    await session.flush()
    return result, True


async def _stand_in(session: AsyncSession, organization: Organization) -> uuid.UUID:
    """Whose name a conversation carries when the requester has no account (`tickets_service.stand_in`)."""
    owner = await tickets_service.stand_in(session, organization.id)
    if owner is None:
        raise InvalidMessage("The organization has no members to receive e-mail yet.")
    return owner


async def _open(
    session: AsyncSession,
    organization: Organization,
    parsed: Parsed,
    *,
    sender: User | None,
    now: datetime,
    follow_up_of: uuid.UUID | None,
    documents: list[uuid.UUID],
) -> tuple[Ticket, int]:
    subject = (parsed.subject or "(no subject)")[:MAX_SUBJECT_CHARS]
    citizen_id = sender.id if sender is not None else await _stand_in(session, organization)
    conversation, first = await chat_service.create_on_behalf(
        session,
        organization_id=organization.id,
        citizen_id=citizen_id,
        subject=subject[:200],
        body=parsed.text,
        via=TicketChannel.email,
        author_email=None if sender is not None else parsed.sender,
        document_ids=documents,
    )
    ticket = Ticket(
        id=uuid.uuid4(),
        reference=new_reference(),
        organization_id=organization.id,
        subject=subject,
        description=parsed.text,
        status=TicketStatus.new,
        priority=TicketPriority.normal,
        requester_id=sender.id if sender is not None else None,
        requester_email=parsed.sender,
        tags=[],
        channel=TicketChannel.email,
        conversation_id=conversation.id,
        follow_up_of=follow_up_of,
        created_at=now,
        updated_at=now,
    )
    session.add(ticket)
    await session.flush()
    await documents_service.link_to_ticket(session, document_ids=documents, ticket_id=ticket.id)
    data: dict[str, Any] = {"status": TicketStatus.new, "priority": ticket.priority, "via": "email"}
    if follow_up_of is not None:
        data["follow_up_of"] = str(follow_up_of)
    tickets_service.record(session, ticket, "created", actor=sender, at=now, data=data)
    await session.flush()
    await tickets_service.refresh_sla(session, ticket, now=now)
    await ticket_events.emit(session, TicketHappened(ticket_events.CREATED, ticket, now, {"channel": "email"}))
    return ticket, first.id


async def _append(
    session: AsyncSession,
    ticket: Ticket,
    parsed: Parsed,
    *,
    sender: User | None,
    is_member: bool,
    now: datetime,
    documents: list[uuid.UUID],
) -> int:
    conversation = await session.get(Conversation, ticket.conversation_id, with_for_update=True)
    assert conversation is not None
    message = ChatMessage(
        conversation_id=conversation.id,
        # Without an account the thread's citizen stands in; `author_email` names the real sender.
        sender_id=sender.id if sender is not None else conversation.citizen_id,
        body=parsed.text,
        via=TicketChannel.email,
        author_email=None if sender is not None else parsed.sender,
        document_ids=documents,
    )
    session.add(message)
    await session.flush()
    await session.refresh(message, ["id", "created_at"])
    conversation.last_message_id = message.id
    conversation.last_activity_at = message.created_at
    await documents_service.link_to_ticket(session, document_ids=documents, ticket_id=ticket.id)
    tickets_service.record(
        session, ticket, "replied", actor=sender, at=now, data={"message_id": message.id, "via": "email"}
    )
    ticket.updated_at = now
    before = ticket.status
    if is_member:
        if ticket.status == TicketStatus.new:
            tickets_service.move_status(session, ticket, TicketStatus.open, actor=sender, now=now)
        await session.flush()
        if ticket.first_responded_at is None:
            await tickets_service.responded(session, ticket=ticket, now=now)
        else:
            await tickets_service.refresh_sla(session, ticket, now=now)
    elif ticket.status in (TicketStatus.pending, TicketStatus.on_hold, TicketStatus.solved):
        tickets_service.move_status(session, ticket, TicketStatus.open, actor=sender, now=now)
        await session.flush()
        await tickets_service.refresh_sla(session, ticket, now=now)
    await session.flush()
    if ticket.status != before:
        change = {"from": before, "to": ticket.status}
        await ticket_events.emit(session, TicketHappened(ticket_events.STATUS_CHANGED, ticket, now, change))
    await ticket_events.emit(
        session,
        TicketHappened(
            ticket_events.MESSAGE, ticket, now, {"message_id": message.id, "body": message.body, "via": "email"}
        ),
    )
    return message.id
