"""Documents: metadata rows, links to appointments, requirements and helpdesk tickets, quota,
review, access.

The bytes are handled by the routes (streamed into staging) and the storage (after the commit);
this module never touches files. It reads the appointment and catalogue *models* directly and
never imports the appointments service module, which imports this one.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Boolean, Select, Uuid, and_, column, exists, false, func, select, table, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import paging
from app.services.apikeys.service import ApiKeyPrincipal
from app.services.appointments.models import Appointment
from app.services.catalog.models import Requirement
from app.services.documents.errors import (
    AlreadyReviewed,
    ContentReplaced,
    DocumentNotFound,
    InvalidAppointment,
    InvalidRequirement,
    InvalidTicket,
    NoteRequired,
    NotOwner,
    NotPending,
    QuotaExceeded,
    RequirementApproved,
    RequirementNeedsAppointment,
    UnsupportedDocumentType,
)
from app.services.documents.models import Document, DocumentStatus
from app.services.documents.schemas import Decision
from app.services.notifications import service as notifications_service
from app.services.notifications.models import Notification
from app.services.organizations import service as organizations_service
from app.services.organizations.models import Organization
from app.services.users.models import User

# (magic test, content type, file extension)
_PDF, _PNG, _JPEG, _WEBP = "application/pdf", "image/png", "image/jpeg", "image/webp"
TEMPLATES = Path(__file__).parent / "templates"  # e-mail texts, see notifications/templates/README.txt
EXTENSIONS = {_PDF: ".pdf", _PNG: ".png", _JPEG: ".jpg", _WEBP: ".webp"}
_ALSO_ACCEPTED = {_JPEG: (".jpeg",)}

# Advisory lock namespace (pg_advisory_xact_lock(int, int)): one citizen's uploads, one at a time.
_QUOTA_LOCK = 0x51444F43

# A document can be a helpdesk ticket's attachment. `tickets` is a feature above this one (it links
# documents to its tickets) and `chat` one beside it, so who may read an attachment is decided by
# reading their columns by name, as a foreign key names a table, rather than importing them; a test
# holds them equal to the models.
TICKETS = table(
    "tickets",
    column("id", Uuid),
    column("organization_id", Uuid),
    column("requester_id", Uuid),
    column("conversation_id", Uuid),
)
CHAT_MESSAGES = table(
    "chat_messages",
    column("conversation_id", Uuid),
    column("internal", Boolean),
    column("document_ids", ARRAY(Uuid)),
)


def detect_type(head: bytes) -> str:
    """The content type from the first bytes; the client's header and file name are never trusted."""
    if head.startswith(b"%PDF-"):
        return _PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _PNG
    if head.startswith(b"\xff\xd8\xff"):
        return _JPEG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _WEBP
    raise UnsupportedDocumentType()


def display_name(filename: str | None, content_type: str) -> str:
    """The client's file name for display, with an extension that matches the real type."""
    extension = EXTENSIONS[content_type]
    name = filename or "document"
    if not name.lower().endswith((extension, *_ALSO_ACCEPTED.get(content_type, ()))):
        name = name[: 255 - len(extension)] + extension
    return name


@dataclass(frozen=True, slots=True)
class _StorageUse:
    kept: int  # the bytes of the owner's kept files (a replaced document's file is removed)
    replaceable: int  # the largest of those a new upload could replace (pending or rejected, linked)


async def _storage_use(session: AsyncSession, *, owner_id: uuid.UUID) -> _StorageUse:
    replaceable = Document.requirement_id.is_not(None) & Document.status.in_(
        [DocumentStatus.pending, DocumentStatus.rejected]
    )
    row = (
        await session.execute(
            select(
                func.coalesce(func.sum(Document.size), 0),
                func.coalesce(func.max(Document.size).filter(replaceable), 0),
            ).where(Document.owner_id == owner_id, Document.status != DocumentStatus.replaced)
        )
    ).one()
    return _StorageUse(kept=int(row[0]), replaceable=int(row[1]))


async def upload_allowance(session: AsyncSession, *, owner_id: uuid.UUID, quota_bytes: int) -> int:
    """The most bytes an upload may stream in before its form says what it replaces: the quota
    left, plus the largest file a new upload could replace. `create` checks exactly."""
    use = await _storage_use(session, owner_id=owner_id)
    return max(quota_bytes - use.kept + use.replaceable, 0)


async def _linked_appointment(
    session: AsyncSession, *, owner: User, appointment_id: uuid.UUID | None, requirement_id: uuid.UUID | None
) -> Appointment | None:
    if appointment_id is None:
        if requirement_id is not None:
            raise RequirementNeedsAppointment()
        return None
    appointment = await session.get(Appointment, appointment_id)
    if appointment is None or appointment.citizen_id != owner.id:
        raise InvalidAppointment()
    if requirement_id is not None:
        found = await session.scalar(
            select(Requirement.id).where(
                Requirement.id == requirement_id, Requirement.service_id == appointment.service_id
            )
        )
        if found is None:
            raise InvalidRequirement()
    return appointment


async def _check_ticket(session: AsyncSession, *, owner: User, ticket_id: uuid.UUID) -> None:
    """A ticket the owner may attach to: theirs as its requester, or their organization's."""
    row = (
        await session.execute(
            select(TICKETS.c.organization_id, TICKETS.c.requester_id).where(TICKETS.c.id == ticket_id)
        )
    ).one_or_none()
    if row is None or not (
        row.requester_id == owner.id
        or await organizations_service.is_staff(session, user=owner, organization_id=row.organization_id)
    ):
        raise InvalidTicket()


async def create(
    session: AsyncSession,
    *,
    owner: User,
    filename: str | None,
    content_type: str,
    size: int,
    sha256: str,
    storage_key: str,
    appointment_id: uuid.UUID | None,
    requirement_id: uuid.UUID | None,
    quota_bytes: int,
    ticket_id: uuid.UUID | None = None,
) -> tuple[Document, str | None]:
    """Record an uploaded document. A current document for the same requirement is replaced,
    unless it is approved (409): its row stays, as the requirement's history, and the storage key
    of its file comes back with the new document, to remove once this commits. A superseded
    file is no longer needed by anyone, and kept it would count against the citizen's quota
    (documents other than pending ones cannot be deleted).

    With `ticket_id`, an attachment for a helpdesk ticket of which the owner is the requester or
    a member of its organization (never together with an appointment)."""
    if ticket_id is not None:
        if appointment_id is not None:
            raise InvalidTicket("A document is for an appointment or for a ticket, not both.")
        await _check_ticket(session, owner=owner, ticket_id=ticket_id)
    appointment = await _linked_appointment(
        session, owner=owner, appointment_id=appointment_id, requirement_id=requirement_id
    )
    # Serialise one citizen's uploads: the quota sum and the replacement below stay true under concurrency.
    await session.execute(select(func.pg_advisory_xact_lock(_QUOTA_LOCK, func.hashtext(str(owner.id)))))
    current = None
    if appointment is not None and requirement_id is not None:
        current = await session.scalar(
            select(Document)
            .where(
                Document.appointment_id == appointment.id,
                Document.requirement_id == requirement_id,
                Document.status != DocumentStatus.replaced,
            )
            .with_for_update()
        )
        if current is not None and current.status == DocumentStatus.approved:
            raise RequirementApproved()
    freed = current.size if current is not None else 0
    if (await _storage_use(session, owner_id=owner.id)).kept - freed + size > quota_bytes:
        raise QuotaExceeded()
    replaced_key: str | None = None
    if current is not None:
        current.status = DocumentStatus.replaced
        replaced_key = current.storage_key
        await session.flush()
    document = Document(
        owner_id=owner.id,
        appointment_id=appointment.id if appointment else None,
        requirement_id=requirement_id,
        organization_id=appointment.organization_id if appointment else None,
        ticket_id=ticket_id,
        filename=display_name(filename, content_type),
        content_type=content_type,
        size=size,
        sha256=sha256,
        storage_key=storage_key,
        status=DocumentStatus.pending,
    )
    session.add(document)
    await session.flush()
    await session.refresh(document)
    return document, replaced_key


async def get_visible(
    session: AsyncSession, *, document_id: uuid.UUID, user: User | ApiKeyPrincipal, for_update: bool = False
) -> Document:
    """The document if `user` owns it, is staff of its organization, or is an admin; else 404.

    A ticket's attachment: its organization's members and API keys, and its requester once it is
    on a message of the thread that is not an internal note."""
    document = await session.get(Document, document_id, with_for_update=for_update or None)
    if document is None:
        raise DocumentNotFound()
    if isinstance(user, User) and document.owner_id == user.id:
        return document
    organization_id = document.organization_id
    if document.ticket_id is not None:
        public = exists().where(
            CHAT_MESSAGES.c.conversation_id == TICKETS.c.conversation_id,
            CHAT_MESSAGES.c.internal.is_(false()),
            CHAT_MESSAGES.c.document_ids.contains([document.id]),
        )
        requester = TICKETS.c.requester_id == user.id if isinstance(user, User) else false()
        row = (
            await session.execute(
                select(TICKETS.c.organization_id, and_(requester, public).label("requester_reads")).where(
                    TICKETS.c.id == document.ticket_id
                )
            )
        ).one()
        if row.requester_reads:
            return document
        organization_id = row.organization_id
    if not await organizations_service.is_staff(
        session, user=user, organization_id=organization_id, refuse_without_mfa=True
    ):
        raise DocumentNotFound()
    return document


async def attachable(
    session: AsyncSession, *, owner_id: uuid.UUID, document_ids: Sequence[uuid.UUID], ticket_id: uuid.UUID | None
) -> set[uuid.UUID]:
    """Of `document_ids`, those `owner_id` may attach to a ticket's message: uploaded for the
    ticket `ticket_id`, or with None (a ticket being opened) linked to no ticket or appointment
    yet. They stay locked until the transaction ends, so that two tickets opened at once cannot
    both take the same document (`link_to_ticket`)."""
    if not document_ids:
        return set()
    link = (
        Document.ticket_id == ticket_id
        if ticket_id is not None
        else and_(Document.ticket_id.is_(None), Document.appointment_id.is_(None))
    )
    rows = await session.scalars(
        select(Document.id)
        .where(Document.id.in_(document_ids), Document.owner_id == owner_id, link)
        .order_by(Document.id)
        .with_for_update()
    )
    return set(rows)


async def link_to_ticket(session: AsyncSession, *, document_ids: Sequence[uuid.UUID], ticket_id: uuid.UUID) -> None:
    """Make these documents (checked by `attachable`, or just stored) the ticket's attachments."""
    if document_ids:
        await session.execute(update(Document).where(Document.id.in_(document_ids)).values(ticket_id=ticket_id))


async def get_for_review(session: AsyncSession, *, document_id: uuid.UUID, user: User | ApiKeyPrincipal) -> Document:
    """Locked; 404 unless `user` is staff of the document's organization or an admin."""
    document = await session.get(Document, document_id, with_for_update=True)
    if document is None or not await organizations_service.is_staff(
        session, user=user, organization_id=document.organization_id, refuse_without_mfa=True
    ):
        raise DocumentNotFound()
    return document


async def get_own(
    session: AsyncSession,
    *,
    owner: User,
    status: DocumentStatus | None,
    appointment_id: uuid.UUID | None,
    offset: int,
    limit: int,
) -> tuple[Sequence[Document], int]:
    query = select(Document).where(Document.owner_id == owner.id)
    if status is not None:
        query = query.where(Document.status == status)
    if appointment_id is not None:
        query = query.where(Document.appointment_id == appointment_id)
    return await _page(session, query, offset=offset, limit=limit)


async def get_for_organization(
    session: AsyncSession,
    *,
    organization: Organization,
    status: DocumentStatus | None,
    appointment_id: uuid.UUID | None,
    offset: int,
    limit: int,
) -> tuple[Sequence[Document], int]:
    """The organization's documents, oldest first (a review queue); replaced ones only when asked for."""
    query = select(Document).where(Document.organization_id == organization.id)
    if status is not None:
        query = query.where(Document.status == status)
    else:
        query = query.where(Document.status != DocumentStatus.replaced)
    if appointment_id is not None:
        query = query.where(Document.appointment_id == appointment_id)
    return await _page(session, query, offset=offset, limit=limit, newest_first=False)


async def _page(
    session: AsyncSession, query: Select[Document], *, offset: int, limit: int, newest_first: bool = True
) -> tuple[Sequence[Document], int]:
    order = [Document.created_at.desc(), Document.id.desc()] if newest_first else [Document.created_at, Document.id]
    return await paging.page_of(session, query, order_by=order, offset=offset, limit=limit)


async def review(
    session: AsyncSession, *, document: Document, actor: User | ApiKeyPrincipal, decision: Decision, note: str | None
) -> Document:
    """Staff approve or reject (with a note) a pending document. Lock it first: `get_for_review`."""
    if decision is Decision.rejected and not (note and note.strip()):
        raise NoteRequired()
    if document.status != DocumentStatus.pending:
        raise AlreadyReviewed(f"This document is {document.status}; only a pending document can be reviewed.")
    document.status = DocumentStatus(decision.value)
    document.review_note = note or None
    document.reviewed_by = actor.id if isinstance(actor, User) else None
    document.reviewed_at = datetime.now(UTC)
    await session.flush()
    await announce_review(
        session,
        user_id=document.owner_id,
        document_id=document.id,
        filename=document.filename,
        decision=decision.value,
        note=document.review_note,
        appointment_id=document.appointment_id,
    )
    return document


async def announce_review(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    document_id: uuid.UUID,
    filename: str,
    decision: str,
    note: str | None = None,
    appointment_id: uuid.UUID | None = None,
) -> Notification:
    """Tell a document's owner that staff approved or rejected it (a rejection is also e-mailed)."""
    if decision not in {d.value for d in Decision}:
        raise ValueError(f"unknown document decision {decision!r}")
    data: dict[str, Any] = {
        "document_id": str(document_id),
        "filename": filename,
        "decision": decision,
        "appointment_id": str(appointment_id) if appointment_id else None,
    }
    if note:
        data["note"] = note
    if decision == "approved":
        title, body = "Document approved", f"Your document {filename} was approved."
    else:
        title = "Document rejected"
        body = f"Your document {filename} was rejected." + (f" Reason: {note}" if note else "")
    return await notifications_service.notify(
        session,
        user_id=user_id,
        kind=f"document_{decision}",
        title=title,
        body=body,
        data=data,
        email=decision == "rejected",
        templates=TEMPLATES,
    )


def content_key(document: Document) -> str:
    """The storage key of a document's file; a replaced document's file is removed (see `create`)."""
    if document.status == DocumentStatus.replaced:
        raise ContentReplaced()
    return document.storage_key


async def delete(session: AsyncSession, *, document: Document, actor: User) -> str:
    """The owner deletes a pending document; returns its storage key (to remove after the commit)."""
    if document.owner_id != actor.id:
        raise NotOwner()
    if document.status != DocumentStatus.pending:
        raise NotPending()
    key = document.storage_key
    await session.delete(document)
    await session.flush()
    return key


async def kept_keys(session: AsyncSession, keys: Sequence[str]) -> set[str]:
    """Which of these storage keys have a row whose file is kept, i.e. not replaced (for the
    start-up sweep, which removes the rest)."""
    if not keys:
        return set()
    rows = await session.scalars(
        select(Document.storage_key).where(Document.storage_key.in_(keys), Document.status != DocumentStatus.replaced)
    )
    return set(rows)
