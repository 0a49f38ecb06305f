"""Tickets: creation, the members' and requester's reads, changes with their history, the status
machine, attachments, categories and the SLA settings, and the SLA clock's stored due times.

Who sees a ticket: its requester (the requester's view), the organization's members, its API keys
and platform admins (the full view); anyone else is told it does not exist. A key acts as the
organization: as a member, named in the history by `api_key_id`. Every change writes a history
event in the same transaction; every change that moves the SLA clock or its targets recomputes the
stored due times (`refresh_sla`) from the pure clock in `sla.py`.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import delete, false, func, select, true
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.core import paging, prepared
from app.core.errors import InvalidInput, PermissionDenied
from app.core.security import AccessClaims
from app.services.apikeys.service import ApiKeyPrincipal
from app.services.appointments.service import new_reference
from app.services.auth import service as auth_service
from app.services.auth.errors import LoginEnded
from app.services.chat import service as chat_service
from app.services.chat.models import ChatMessage, Conversation, ConversationStatus
from app.services.chat.schemas import ConversationCreate, MessageRead
from app.services.documents import service as documents_service
from app.services.mfa.errors import MfaRequired
from app.services.notifications import service as notifications_service
from app.services.notifications.models import OutboxEmail
from app.services.organizations import service as organizations_service
from app.services.organizations.errors import OrganizationNotFound
from app.services.organizations.models import Department, MemberRole, Membership, Organization
from app.services.tickets import events, placeholders, sla
from app.services.tickets import queries as tickets_queries
from app.services.tickets.errors import (
    InvalidAssignee,
    InvalidCategory,
    InvalidTicketDepartment,
    InvalidTicketDocument,
    NoMemberToStandIn,
    TicketCategoryExists,
    TicketCategoryInUse,
    TicketCategoryNotFound,
    TicketClosed,
    TicketConversationClosed,
    TicketNotFound,
    TicketTransitionInvalid,
)
from app.services.tickets.events import TicketHappened
from app.services.tickets.models import (
    SlaCalendar,
    SlaPolicy,
    Ticket,
    TicketCategory,
    TicketChannel,
    TicketEvent,
    TicketPriority,
    TicketStatus,
)
from app.services.tickets.schemas import (
    BusinessRangeRead,
    CategoryCreate,
    CategoryUpdate,
    SlaExplanation,
    SlaIn,
    SlaInterval,
    SlaPolicyRead,
    SlaRead,
    SlaTarget,
    TicketCreate,
    TicketMessageCreate,
    TicketRead,
    TicketRequesterRead,
    TicketUpdate,
    to_clock,
    to_seconds,
)
from app.services.users.models import User

S = TicketStatus
# The status machine of the contract: closed is final.
TRANSITIONS: dict[str, frozenset[str]] = {
    S.new: frozenset({S.open, S.pending, S.on_hold, S.solved}),
    S.open: frozenset({S.pending, S.on_hold, S.solved}),
    S.pending: frozenset({S.open, S.on_hold, S.solved}),
    S.on_hold: frozenset({S.open, S.pending, S.solved}),
    S.solved: frozenset({S.open, S.closed}),
    S.closed: frozenset(),
}
FIRST_RESPONSE, RESOLUTION = "first_response", "resolution"

# Who acts on a ticket: a signed-in user or the organization's API key.
Caller = User | ApiKeyPrincipal


def _user_id(actor: Caller | None) -> uuid.UUID | None:
    """The acting user's id; None for a key (the organization acts) or nobody."""
    return actor.id if isinstance(actor, User) else None


def _actor_data(actor: Caller) -> dict[str, str]:
    """Who acted, for the data of a ticket event (automation rules, webhooks)."""
    if isinstance(actor, ApiKeyPrincipal):
        return {"api_key_id": str(actor.id)}
    return {"actor_id": str(actor.id)}


@dataclass(slots=True)
class Access:
    """A ticket and how the caller sees it."""

    ticket: Ticket
    is_member: bool

    def view(self) -> TicketRead | TicketRequesterRead:
        return to_view(self.ticket, member=self.is_member)


def to_view(ticket: Ticket, *, member: bool) -> TicketRead | TicketRequesterRead:
    if member:
        return TicketRead.model_validate(ticket)
    return TicketRequesterRead.model_validate(ticket)


# --- access -------------------------------------------------------------------------------------


async def load(session: AsyncSession, *, caller: Caller, ticket_id: uuid.UUID, lock: bool = False) -> Access:
    """The ticket as `caller` may see it; TicketNotFound for anyone who may not (another
    organization's key too). A member whom the organization's MFA policy holds back is not staff
    here: they see the tickets they filed, as their requester, and get 403 `mfa_required` for the
    others."""
    if isinstance(caller, ApiKeyPrincipal):
        by_key = select(Ticket).where(Ticket.id == ticket_id, Ticket.organization_id == caller.organization_id)
        if lock:
            by_key = by_key.with_for_update()
        ticket = await session.scalar(by_key.execution_options(populate_existing=True))
        if ticket is None:
            raise TicketNotFound()
        return Access(ticket=ticket, is_member=True)
    user = caller
    query = select(Ticket).where(Ticket.id == ticket_id)
    if lock:
        query = query.with_for_update()
    ticket = await session.scalar(query.execution_options(populate_existing=True))
    if ticket is None:
        raise TicketNotFound()
    is_member = await organizations_service.is_staff(session, user=user, organization_id=ticket.organization_id)
    if not is_member and ticket.requester_id != user.id:
        await _refuse_held_back(session, user=user, ticket=ticket)
        raise TicketNotFound()
    return Access(ticket=ticket, is_member=is_member)


async def _refuse_held_back(session: AsyncSession, *, user: Caller, ticket: Ticket) -> None:
    """403 `mfa_required` for a member of the ticket's organization held back by its MFA policy,
    who is told why they are refused; nothing for anyone else."""
    await organizations_service.is_staff(
        session, user=user, organization_id=ticket.organization_id, refuse_without_mfa=True
    )


async def read_json(engine: AsyncEngine, *, caller: AccessClaims | ApiKeyPrincipal, ticket_id: uuid.UUID) -> str:
    """The ticket's body as the caller may see it, written by PostgreSQL in one round trip (the
    hot read); the same rule as `load`: TicketNotFound for anyone but its requester, members,
    admins and the organization's API keys."""
    if isinstance(caller, ApiKeyPrincipal):
        row = await prepared.fetchrow(
            engine, tickets_queries.READ_FOR_KEY, ticket_id=ticket_id, organization_id=caller.organization_id
        )
        visible = row is not None
    else:
        row = await prepared.fetchrow(
            engine, tickets_queries.READ, ticket_id=ticket_id, **auth_service.login_parameters(caller)
        )
        if row is None:
            raise LoginEnded()
        visible = row["body"] is not None and (row["member"] or row["requester"])
        if not visible and row["held_back"]:
            raise MfaRequired()
    if not visible:
        raise TicketNotFound()
    assert row is not None
    body: str = row["body"]
    return body


async def load_for_member(session: AsyncSession, *, caller: Caller, ticket_id: uuid.UUID, lock: bool = False) -> Ticket:
    """Members' actions: the requester gets 403 (the ticket exists for them), others 404."""
    access = await load(session, caller=caller, ticket_id=ticket_id, lock=lock)
    if not access.is_member:
        await _refuse_held_back(session, user=caller, ticket=access.ticket)
        raise PermissionDenied("Only the organization's members may do this.")
    return access.ticket


# --- checks of references -----------------------------------------------------------------------


async def _check_category(session: AsyncSession, *, organization_id: uuid.UUID, category_id: uuid.UUID) -> None:
    found = await session.scalar(
        select(TicketCategory.id).where(
            TicketCategory.id == category_id, TicketCategory.organization_id == organization_id
        )
    )
    if found is None:
        raise InvalidCategory()


async def _check_department(session: AsyncSession, *, organization_id: uuid.UUID, department_id: uuid.UUID) -> None:
    found = await session.scalar(
        select(Department.id).where(Department.id == department_id, Department.organization_id == organization_id)
    )
    if found is None:
        raise InvalidTicketDepartment()


async def _check_assignee(session: AsyncSession, *, organization_id: uuid.UUID, assignee_id: uuid.UUID) -> None:
    role = await organizations_service.get_role(session, organization_id=organization_id, user_id=assignee_id)
    if role is None:
        raise InvalidAssignee()


# The same checks for the helpdesk's other features (knowledge base, automations).
check_category = _check_category
check_assignee = _check_assignee


async def _attachments(
    session: AsyncSession, *, actor: Caller, document_ids: Sequence[uuid.UUID], ticket: Ticket | None
) -> list[uuid.UUID]:
    """`document_ids` without repeats, each one the actor uploaded for `ticket` (None: a ticket
    being opened, which takes the actor's documents not yet linked to anything); else 422
    `invalid_document`. An API key has no documents."""
    wanted = list(dict.fromkeys(document_ids))
    if not wanted:
        return wanted
    if isinstance(actor, ApiKeyPrincipal):
        raise InvalidTicketDocument("An API key has no documents to attach.")
    found = await documents_service.attachable(
        session, owner_id=actor.id, document_ids=wanted, ticket_id=ticket.id if ticket is not None else None
    )
    if missing := [str(document_id) for document_id in wanted if document_id not in found]:
        where = "uploaded for this ticket" if ticket is not None else "not yet attached to anything"
        raise InvalidTicketDocument(f"Not one of your documents {where}: {', '.join(missing)}.")
    return wanted


async def stand_in(session: AsyncSession, organization_id: uuid.UUID) -> uuid.UUID | None:
    """Whose name a message of the thread carries when its author has no account (a requester
    known by e-mail only) or is an API key: the organization's first owner, else its first member;
    None when it has no members."""
    return await session.scalar(
        select(Membership.user_id)
        .where(Membership.organization_id == organization_id)
        .order_by((Membership.role != MemberRole.owner), Membership.user_id)
        .limit(1)
    )


async def _stand_in_or_raise(session: AsyncSession, organization_id: uuid.UUID) -> uuid.UUID:
    found = await stand_in(session, organization_id)
    if found is None:
        raise NoMemberToStandIn()
    return found


# --- history ------------------------------------------------------------------------------------


def record(
    session: AsyncSession,
    ticket: Ticket,
    type_: str,
    *,
    actor: Caller | None,
    at: datetime,
    data: dict[str, Any] | None = None,
) -> None:
    session.add(
        TicketEvent(
            ticket_id=ticket.id,
            type=type_,
            actor_id=_user_id(actor),
            api_key_id=actor.id if isinstance(actor, ApiKeyPrincipal) else None,
            data=data or {},
            at=at,
        )
    )


def _json(value: Any) -> Any:
    return str(value) if isinstance(value, uuid.UUID) else value


async def get_history(
    session: AsyncSession, *, ticket: Ticket, offset: int, limit: int
) -> tuple[Sequence[TicketEvent], int]:
    query = select(TicketEvent).where(TicketEvent.ticket_id == ticket.id)
    return await paging.page_of(session, query, order_by=[TicketEvent.id], offset=offset, limit=limit)


# --- creating -----------------------------------------------------------------------------------


async def create(
    session: AsyncSession, *, actor: Caller, login_session_id: uuid.UUID | None, data: TicketCreate, now: datetime
) -> Access:
    """Open a ticket: its thread is a new chat conversation whose first message is the description,
    with the documents of `data.document_ids` (the actor's, not yet attached to anything: now the
    ticket's). A user files it as its requester (members may name another by `requester_email`);
    an organization's API key files it for `requester_email` (required), `channel: api`.
    `login_session_id` is the user's login (None for a key)."""
    if isinstance(actor, ApiKeyPrincipal):
        if actor.organization_id != data.organization_id:
            raise OrganizationNotFound()  # another organization's key: 404, as on its routes
        if data.requester_email is None:
            raise InvalidInput(
                "A ticket filed with an API key needs the requester's `requester_email`.",
                errors=[{"loc": ["body", "requester_email"], "msg": "Field required", "type": "missing"}],
            )
    organization = await organizations_service.get_or_raise(session, data.organization_id)
    is_member = await organizations_service.is_staff(session, user=actor, organization_id=organization.id)
    if data.member_fields() and not is_member:
        raise PermissionDenied("Only the organization's members may set " + ", ".join(data.member_fields()) + ".")
    if data.category_id is not None:
        await _check_category(session, organization_id=organization.id, category_id=data.category_id)
    if data.department_id is not None:
        await _check_department(session, organization_id=organization.id, department_id=data.department_id)
    if data.assignee_id is not None:
        await _check_assignee(session, organization_id=organization.id, assignee_id=data.assignee_id)
    document_ids = await _attachments(session, actor=actor, document_ids=data.document_ids, ticket=None)

    requester: User | None = actor if isinstance(actor, User) else None
    requester_email: str | None = requester.email if requester is not None else None
    if data.requester_email is not None:
        requester_email = str(data.requester_email).lower()
        requester = await session.scalar(select(User).where(func.lower(User.email) == requester_email))
    # The conversation needs an account on the requester's side: without one, the member who
    # opened the ticket stands in (the requester is then reached by e-mail), or for a key the
    # organization's stand-in (`stand_in`).
    conversation_id: uuid.UUID
    if isinstance(actor, ApiKeyPrincipal):
        conversation, _ = await chat_service.create_on_behalf(
            session,
            organization_id=organization.id,
            citizen_id=requester.id if requester is not None else await _stand_in_or_raise(session, organization.id),
            subject=data.subject,
            body=data.description,
            via=TicketChannel.api,
            author_email=requester_email,
        )
        conversation_id = conversation.id
    elif requester is not None and requester.id == actor.id:
        assert login_session_id is not None
        started = await chat_service.create(
            session,
            citizen=actor,
            login_session_id=login_session_id,
            data=ConversationCreate(organization_id=organization.id, subject=data.subject, body=data.description),
            document_ids=document_ids,
        )
        conversation_id = started.id
    else:
        conversation, _ = await chat_service.create_on_behalf(
            session,
            organization_id=organization.id,
            citizen_id=requester.id if requester is not None else actor.id,
            subject=data.subject,
            body=data.description,
            document_ids=document_ids,
        )
        conversation_id = conversation.id
    status = S.open if data.assignee_id is not None else S.new
    ticket = Ticket(
        id=uuid.uuid4(),
        reference=new_reference(),
        organization_id=organization.id,
        subject=data.subject,
        description=data.description,
        status=status,
        priority=data.priority or TicketPriority.normal,
        category_id=data.category_id,
        department_id=data.department_id,
        assignee_id=data.assignee_id,
        requester_id=requester.id if requester is not None else None,
        requester_email=requester_email,
        tags=data.tags or [],
        channel=TicketChannel.api if isinstance(actor, ApiKeyPrincipal) else TicketChannel.web,
        conversation_id=conversation_id,
        created_at=now,
        updated_at=now,
    )
    session.add(ticket)
    await session.flush()
    await documents_service.link_to_ticket(session, document_ids=document_ids, ticket_id=ticket.id)
    record(session, ticket, "created", actor=actor, at=now, data={"status": status, "priority": ticket.priority})
    if data.assignee_id is not None:
        record(session, ticket, "assigned", actor=actor, at=now, data={"from": None, "to": str(data.assignee_id)})
    await session.flush()
    await refresh_sla(session, ticket, now=now)
    if data.assignee_id is not None and data.assignee_id != _user_id(actor):
        await _announce_assigned(session, ticket)
    await events.emit(session, TicketHappened(events.CREATED, ticket, now, _actor_data(actor)))
    return Access(ticket=ticket, is_member=is_member)


# --- reading ------------------------------------------------------------------------------------


async def get_own(
    session: AsyncSession, *, user: User, status: TicketStatus | None, offset: int, limit: int
) -> tuple[Sequence[Ticket], int]:
    query = select(Ticket).where(Ticket.requester_id == user.id)
    if status is not None:
        query = query.where(Ticket.status == status)
    return await paging.page_of(
        session, query, order_by=[Ticket.created_at.desc(), Ticket.id.desc()], offset=offset, limit=limit
    )


@dataclass(frozen=True, slots=True)
class TicketFilters:
    status: TicketStatus | None = None
    priority: TicketPriority | None = None
    assignee_id: uuid.UUID | None = None
    unassigned: bool = False
    category_id: uuid.UUID | None = None
    tag: str | None = None
    breached: bool | None = None
    due_within_minutes: int | None = None
    q: str | None = None


async def get_all(
    engine: AsyncEngine,
    *,
    caller: AccessClaims | ApiKeyPrincipal,
    organization_id: uuid.UUID,
    filters: TicketFilters,
    now: datetime,
    offset: int,
    limit: int,
) -> tuple[str, int]:
    """Members and the organization's keys: the queue's page, newest first, as JSON text of
    `TicketRead` bodies, and the total. One round trip, the gate of `TicketReader` included."""
    shape = tickets_queries.Shape(
        status=filters.status is not None,
        priority=filters.priority is not None,
        assignee=filters.assignee_id is not None,
        unassigned=filters.unassigned,
        category=filters.category_id is not None,
        tag=filters.tag is not None,
        breached=filters.breached,
        due_within=filters.due_within_minutes is not None,
        q=bool(filters.q),
    )
    params: dict[str, Any] = {
        "organization_id": organization_id,
        "status": filters.status.value if filters.status else None,
        "priority": filters.priority.value if filters.priority else None,
        "assignee_id": filters.assignee_id,
        "category_id": filters.category_id,
        "tags": [filters.tag.lower()] if filters.tag else None,
        "horizon": now + timedelta(minutes=filters.due_within_minutes or 0),
        "pattern": paging.contains(filters.q) if filters.q else None,
        "reference": filters.q.upper() if filters.q else None,
        "offset": offset,
        "limit": limit,
    }
    if isinstance(caller, ApiKeyPrincipal):
        if caller.organization_id != organization_id:
            raise OrganizationNotFound()
        row = await prepared.fetchrow(engine, tickets_queries.page_statement(shape, signed_in=False), **params)
    else:
        statement = tickets_queries.page_statement(shape, signed_in=True)
        row = await prepared.fetchrow(engine, statement, **params, **auth_service.login_parameters(caller))
        if row is None:
            raise LoginEnded()
        organizations_service.check_standing(row, minimum=MemberRole.staff)
    assert row is not None
    return row["items"], row["total"]


# --- changing -----------------------------------------------------------------------------------


def _require_open(ticket: Ticket) -> None:
    if ticket.status == S.closed:
        raise TicketClosed()


async def update(session: AsyncSession, *, actor: Caller, ticket: Ticket, data: TicketUpdate, now: datetime) -> Ticket:
    _require_open(ticket)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("category_id") is not None:
        await _check_category(session, organization_id=ticket.organization_id, category_id=changes["category_id"])
    if changes.get("department_id") is not None:
        await _check_department(session, organization_id=ticket.organization_id, department_id=changes["department_id"])
    changed = False
    for field, value in changes.items():
        before = getattr(ticket, field)
        if before == value:
            continue
        setattr(ticket, field, value)
        record(
            session,
            ticket,
            f"{field}_changed",
            actor=actor,
            at=now,
            data={"from": _json(before), "to": _json(value)},
        )
        changed = True
    if changed:
        ticket.updated_at = now
        await session.flush()
        if "priority" in changes:
            await refresh_sla(session, ticket, now=now)
    return ticket


async def assign(
    session: AsyncSession, *, actor: Caller, ticket: Ticket, assignee_id: uuid.UUID | None, now: datetime
) -> Ticket:
    """Assign (or with None unassign); an assignment moves a new ticket to open."""
    _require_open(ticket)
    if assignee_id is not None:
        await _check_assignee(session, organization_id=ticket.organization_id, assignee_id=assignee_id)
    if ticket.assignee_id == assignee_id:
        return ticket
    before = ticket.assignee_id
    ticket.assignee_id = assignee_id
    ticket.updated_at = now
    record(session, ticket, "assigned", actor=actor, at=now, data={"from": _json(before), "to": _json(assignee_id)})
    if assignee_id is not None and ticket.status == S.new:
        _move(session, ticket, S.open, actor=actor, now=now)
    await session.flush()
    await refresh_sla(session, ticket, now=now)
    if assignee_id is not None and assignee_id != _user_id(actor):
        await _announce_assigned(session, ticket)
    await events.emit(
        session, TicketHappened(events.ASSIGNED, ticket, now, {"from": _json(before), "to": _json(assignee_id)})
    )
    return ticket


def _move(
    session: AsyncSession,
    ticket: Ticket,
    to: str,
    *,
    actor: Caller | None,
    now: datetime,
    note: str | None = None,
) -> None:
    """Apply an allowed status move and record it (the caller refreshes the SLA)."""
    before = ticket.status
    ticket.status = to
    ticket.updated_at = now
    if to == S.solved:
        ticket.solved_at = now
    elif to == S.closed:
        ticket.closed_at = now
    elif before == S.solved:
        ticket.solved_at = None  # reopened
    data: dict[str, Any] = {"from": before, "to": to}
    if note:
        data["note"] = note
    record(session, ticket, "status_changed", actor=actor, at=now, data=data)


async def change_status(
    session: AsyncSession, *, actor: Caller, access: Access, status: TicketStatus, note: str | None, now: datetime
) -> Ticket:
    """Members move along the status machine; the requester may only solve."""
    ticket = access.ticket
    if not access.is_member and status != S.solved:
        raise PermissionDenied("The requester may only mark the ticket solved.")
    if status not in TRANSITIONS[ticket.status]:
        raise TicketTransitionInvalid(f"A ticket cannot move from {ticket.status} to {status}.")
    before = ticket.status
    await _settle_targets(session, ticket, to=status, now=now)
    _move(session, ticket, status, actor=actor, now=now, note=note)
    if status == S.closed:
        await _close_conversation(session, ticket, now=now)
    await session.flush()
    await refresh_sla(session, ticket, now=now)
    if status == S.solved and ticket.requester_id is not None and ticket.requester_id != _user_id(actor):
        await _announce_requester(session, ticket, kind="ticket_solved", title="Ticket solved", what="was solved")
    await events.emit(session, TicketHappened(events.STATUS_CHANGED, ticket, now, {"from": before, "to": status}))
    return ticket


async def _close_conversation(session: AsyncSession, ticket: Ticket, *, now: datetime) -> None:
    await session.execute(
        sa.update(Conversation)
        .where(Conversation.id == ticket.conversation_id, Conversation.status == ConversationStatus.open)
        .values(status=ConversationStatus.closed, closed_at=now)
    )


async def _settle_targets(session: AsyncSession, ticket: Ticket, *, to: str, now: datetime) -> None:
    """Before the clock stops (solve) or the first response is met: the resolution counted so far
    is kept for the reports, and a target met after its due time is a breach (marked once)."""
    if to == S.solved:
        spans = await _intervals(session, ticket, now=now)
        ticket.resolution_minutes = sla.minutes(sla.counted(spans))
        if ticket.resolution_due_at is not None and ticket.resolution_due_at <= now:
            await mark_breaches(session, now=now, ticket_id=ticket.id)
            await session.refresh(ticket, ["first_response_breached", "resolution_breached"])


async def responded(session: AsyncSession, *, ticket: Ticket, now: datetime) -> None:
    """A member's first public reply: the first response is met (late: a breach)."""
    if ticket.first_responded_at is not None:
        return
    if ticket.first_response_due_at is not None and ticket.first_response_due_at <= now:
        await mark_breaches(session, now=now, ticket_id=ticket.id)
        await session.refresh(ticket, ["first_response_breached", "resolution_breached"])
    spans = await _intervals(session, ticket, now=now)
    ticket.first_responded_at = now
    ticket.first_response_minutes = sla.minutes(sla.counted(spans))
    ticket.updated_at = now
    await session.flush()
    await refresh_sla(session, ticket, now=now)


# --- the thread ---------------------------------------------------------------------------------


async def post_message(
    session: AsyncSession,
    *,
    actor: Caller,
    login_session_id: uuid.UUID | None,
    access: Access,
    data: TicketMessageCreate,
    now: datetime,
    reopen_days: int,
) -> tuple[MessageRead, bool]:
    """A reply (or a members' internal note) in the ticket's thread, with its effects: a member's
    public reply is the first response and moves new to open; the requester's reply moves pending
    and on_hold to open, and solved to open within `reopen_days` of `solved_at` (after that the
    ticket is as good as closed). A note changes no status and meets no target. Returns the message
    and whether it is new (a resend of `client_id` has no effect).

    `data.document_ids` must be documents the actor uploaded for this ticket. An API key writes
    as the organization (`via: api`), in the name of its stand-in member (`stand_in`);
    `login_session_id` is a user's login (None for a key)."""
    ticket = access.ticket
    if data.internal and not access.is_member:
        raise PermissionDenied("Only the organization's members may write internal notes.")
    document_ids = await _attachments(session, actor=actor, document_ids=data.document_ids, ticket=ticket)
    if ticket.status == S.closed:
        raise TicketConversationClosed()
    from_requester = not access.is_member
    if from_requester and ticket.status == S.solved:
        assert ticket.solved_at is not None
        if now >= ticket.solved_at + timedelta(days=reopen_days):
            raise TicketConversationClosed("The ticket was solved too long ago to reopen; open a new one.")
    if isinstance(actor, ApiKeyPrincipal):
        message, created = await chat_service.post_on_behalf(
            session,
            sender_id=await _stand_in_or_raise(session, ticket.organization_id),
            conversation_id=ticket.conversation_id,
            body=data.body,
            client_id=data.client_id,
            internal=data.internal,
            via=TicketChannel.api,
        )
    else:
        assert login_session_id is not None
        message, created = await chat_service.post(
            session,
            sender=actor,
            login_session_id=login_session_id,
            conversation_id=ticket.conversation_id,
            body=data.body,
            client_id=data.client_id,
            internal=data.internal,
            document_ids=document_ids,
        )
    if not created:
        return message, False
    record(
        session,
        ticket,
        "note_added" if data.internal else "replied",
        actor=actor,
        at=now,
        data={"message_id": message.id},
    )
    ticket.updated_at = now
    if data.internal:
        await session.flush()
        return message, True
    status_before = ticket.status
    if from_requester:
        if ticket.status in (S.pending, S.on_hold, S.solved):
            _move(session, ticket, S.open, actor=actor, now=now)
            await session.flush()
            await refresh_sla(session, ticket, now=now)
    else:
        if ticket.status == S.new:
            _move(session, ticket, S.open, actor=actor, now=now)
        await session.flush()
        if ticket.first_responded_at is None:
            await responded(session, ticket=ticket, now=now)
        else:
            await refresh_sla(session, ticket, now=now)
        if ticket.requester_id is not None and ticket.requester_id != _user_id(actor):
            await _announce_requester(
                session, ticket, kind="ticket_reply", title="New reply", what="has a new reply", message_body=data.body
            )
    await session.flush()
    if ticket.status != status_before:
        await events.emit(
            session, TicketHappened(events.STATUS_CHANGED, ticket, now, {"from": status_before, "to": ticket.status})
        )
    await events.emit(
        session,
        TicketHappened(
            events.MESSAGE,
            ticket,
            now,
            {
                "message_id": message.id,
                "body": message.body,
                "sender_id": str(message.sender_id),
                "via": message.via,
                "document_ids": [str(document_id) for document_id in message.document_ids],
                "from_requester": from_requester,
                **({"api_key_id": str(actor.id)} if isinstance(actor, ApiKeyPrincipal) else {}),
            },
        ),
    )
    return message, True


async def get_messages(
    session: AsyncSession,
    *,
    caller: Caller,
    ticket: Ticket,
    before_id: int | None,
    after_id: int | None,
    limit: int,
) -> tuple[Sequence[ChatMessage], bool]:
    """The thread as chat history: the requester never gets the internal notes; the
    organization's key (let in by `load`) gets them all."""
    if isinstance(caller, ApiKeyPrincipal):
        return await chat_service.get_thread(
            session,
            conversation_id=ticket.conversation_id,
            internal=True,
            before_id=before_id,
            after_id=after_id,
            limit=limit,
        )
    return await chat_service.get_messages(
        session,
        user=caller,
        conversation_id=ticket.conversation_id,
        before_id=before_id,
        after_id=after_id,
        limit=limit,
    )


# --- SLA ----------------------------------------------------------------------------------------


def _calendar(row: SlaCalendar, timezone: str) -> sla.Calendar:
    weekly = None
    if row.weekly is not None:
        weekly = tuple((r["weekday"], r["opens"], r["closes"]) for r in row.weekly)
    return sla.Calendar(timezone, weekly, frozenset(row.holidays))


async def _calendars(session: AsyncSession, organization_id: uuid.UUID) -> list[sla.CalendarVersion]:
    rows = (
        await session.execute(
            select(SlaCalendar, Organization.timezone)
            .join(Organization, Organization.id == SlaCalendar.organization_id)
            .where(SlaCalendar.organization_id == organization_id)
            .order_by(SlaCalendar.effective_from, SlaCalendar.id)
        )
    ).all()
    return [sla.CalendarVersion(row.effective_from, _calendar(row, timezone)) for row, timezone in rows]


async def _changes(session: AsyncSession, ticket: Ticket) -> list[sla.StatusChange]:
    rows = (
        await session.execute(
            select(TicketEvent.type, TicketEvent.data, TicketEvent.at)
            .where(TicketEvent.ticket_id == ticket.id, TicketEvent.type.in_(("created", "status_changed")))
            .order_by(TicketEvent.id)
        )
    ).all()
    changes = [sla.StatusChange(at, data["status"] if type_ == "created" else data["to"]) for type_, data, at in rows]
    return changes or [sla.StatusChange(ticket.created_at, ticket.status)]


async def _intervals(
    session: AsyncSession, ticket: Ticket, *, now: datetime, calendars: list[sla.CalendarVersion] | None = None
) -> list[sla.Interval]:
    if calendars is None:
        calendars = await _calendars(session, ticket.organization_id)
    return sla.intervals(changes=await _changes(session, ticket), calendars=calendars, now=now)


async def _policy(session: AsyncSession, ticket: Ticket) -> SlaPolicy | None:
    return await session.get(SlaPolicy, (ticket.organization_id, ticket.priority))


async def refresh_sla(
    session: AsyncSession,
    ticket: Ticket,
    *,
    now: datetime,
    calendars: list[sla.CalendarVersion] | None = None,
    policy: SlaPolicy | bool | None = True,
) -> None:
    """Recompute the ticket's stored due times from its whole history (events flushed)."""
    if calendars is None:
        calendars = await _calendars(session, ticket.organization_id)
    if policy is True:
        policy = await _policy(session, ticket)
    clock = sla.clock_of(ticket.status)
    ticket.sla_paused = clock is sla.Clock.paused
    if not isinstance(policy, SlaPolicy):
        ticket.first_response_due_at = ticket.resolution_due_at = None
        return
    spans = await _intervals(session, ticket, now=now, calendars=calendars)
    current = calendars[-1].calendar if calendars else sla.ROUND_THE_CLOCK
    due = _dues(spans, policy=policy, calendar=current, now=now, clock=clock)
    ticket.first_response_due_at = None if ticket.first_responded_at is not None else due[FIRST_RESPONSE]
    ticket.resolution_due_at = None if clock is sla.Clock.stopped else due[RESOLUTION]


def _dues(
    spans: Sequence[sla.Interval], *, policy: SlaPolicy, calendar: sla.Calendar, now: datetime, clock: sla.Clock
) -> dict[str, datetime | None]:
    targets = {FIRST_RESPONSE: policy.first_response_minutes, RESOLUTION: policy.resolution_minutes}
    return {
        name: sla.due_at(spans, target=timedelta(minutes=minutes), calendar=calendar, now=now, clock=clock)
        for name, minutes in targets.items()
    }


async def explain_sla(session: AsyncSession, *, ticket: Ticket, now: datetime) -> SlaExplanation:
    """The clock from creation to now, interval by interval, and where each target stands."""
    calendars = await _calendars(session, ticket.organization_id)
    spans = await _intervals(session, ticket, now=now, calendars=calendars)
    policy = await _policy(session, ticket)
    current = calendars[-1].calendar if calendars else sla.ROUND_THE_CLOCK
    clock = sla.clock_of(ticket.status)
    due: dict[str, datetime | None] = {FIRST_RESPONSE: None, RESOLUTION: None}
    if policy is not None:
        due = _dues(spans, policy=policy, calendar=current, now=now, clock=clock)
    return SlaExplanation(
        policy=SlaPolicyRead.model_validate(policy) if policy is not None else None,
        counted_minutes=sla.minutes(sla.counted(spans)),
        first_response=SlaTarget(
            target_minutes=policy.first_response_minutes if policy else None,
            due_at=due[FIRST_RESPONSE] if policy else None,
            met_at=ticket.first_responded_at,
            breached=ticket.first_response_breached,
        ),
        resolution=SlaTarget(
            target_minutes=policy.resolution_minutes if policy else None,
            due_at=due[RESOLUTION] if policy else None,
            met_at=ticket.solved_at,
            breached=ticket.resolution_breached,
        ),
        intervals=[
            SlaInterval(
                starts_at=span.starts_at,
                ends_at=span.ends_at,
                status=TicketStatus(span.status),
                clock=span.clock,
                hours=span.hours,
                counted_minutes=sla.minutes(span.counted),
            )
            for span in spans
        ],
    )


async def get_sla(session: AsyncSession, *, organization: Organization) -> SlaRead:
    calendar = await session.scalar(
        select(SlaCalendar)
        .where(SlaCalendar.organization_id == organization.id)
        .order_by(SlaCalendar.effective_from.desc(), SlaCalendar.id.desc())
        .limit(1)
    )
    policies = await session.scalars(
        select(SlaPolicy).where(SlaPolicy.organization_id == organization.id).order_by(SlaPolicy.priority)
    )
    weekly = None
    if calendar is not None and calendar.weekly is not None:
        weekly = [
            BusinessRangeRead(weekday=r["weekday"], opens=to_clock(r["opens"]), closes=to_clock(r["closes"]))
            for r in calendar.weekly
        ]
    return SlaRead(
        organization_id=organization.id,
        timezone=organization.timezone,
        weekly=weekly,
        holidays=sorted(calendar.holidays) if calendar is not None else [],
        policies=[SlaPolicyRead.model_validate(policy) for policy in policies],
        effective_from=calendar.effective_from if calendar is not None else None,
    )


async def put_sla(session: AsyncSession, *, organization: Organization, data: SlaIn, now: datetime) -> SlaRead:
    """A new calendar version from `now` and the full set of policies; the due times of the
    organization's unsolved tickets are recomputed (the time they counted stays counted)."""
    # One writer at a time per organization: two PUTs must not interleave their versions.
    await session.execute(select(Organization.id).where(Organization.id == organization.id).with_for_update())
    weekly = None
    if data.weekly:
        weekly = sorted(
            ({"weekday": r.weekday, "opens": to_seconds(r.opens), "closes": to_seconds(r.closes)} for r in data.weekly),
            key=lambda r: (r["weekday"], r["opens"]),
        )
    session.add(
        SlaCalendar(
            organization_id=organization.id, weekly=weekly, holidays=sorted(set(data.holidays)), effective_from=now
        )
    )
    await session.execute(delete(SlaPolicy).where(SlaPolicy.organization_id == organization.id))
    for policy in data.policies:
        session.add(
            SlaPolicy(
                organization_id=organization.id,
                priority=policy.priority,
                first_response_minutes=policy.first_response_minutes,
                resolution_minutes=policy.resolution_minutes,
            )
        )
    await session.flush()
    await _refresh_organization(session, organization_id=organization.id, now=now)
    return await get_sla(session, organization=organization)


async def _refresh_organization(session: AsyncSession, *, organization_id: uuid.UUID, now: datetime) -> None:
    calendars = await _calendars(session, organization_id)
    policies = {
        policy.priority: policy
        for policy in await session.scalars(select(SlaPolicy).where(SlaPolicy.organization_id == organization_id))
    }
    tickets = await session.scalars(
        select(Ticket)
        .where(Ticket.organization_id == organization_id, Ticket.status.not_in((S.solved, S.closed)))
        .with_for_update()
    )
    for ticket in tickets:
        await refresh_sla(session, ticket, now=now, calendars=calendars, policy=policies.get(ticket.priority, False))


# --- breaches -----------------------------------------------------------------------------------


async def mark_breaches(
    session: AsyncSession, *, now: datetime, ticket_id: uuid.UUID | None = None, limit: int = 200
) -> int:
    """Mark each target due by `now` and not yet breached, once: the conditional UPDATE re-checks
    the flag on the row it locks, so of two concurrent passes only one marks (and announces) a
    breach. Each breach gets its history event and a notification to the assignee, the owners and
    the managers. Returns how many were marked."""
    marked = 0
    for target, flag, due in (
        (FIRST_RESPONSE, Ticket.first_response_breached, Ticket.first_response_due_at),
        (RESOLUTION, Ticket.resolution_breached, Ticket.resolution_due_at),
    ):
        candidates = select(Ticket.id).where(flag.is_(false()), due <= now)
        if ticket_id is not None:
            candidates = candidates.where(Ticket.id == ticket_id)
        candidates = candidates.order_by(due).limit(limit)
        rows = (
            await session.execute(
                sa.update(Ticket)
                .where(Ticket.id.in_(candidates.scalar_subquery()), flag.is_(false()), due <= now)
                .values({flag.key: true()})
                .returning(Ticket.id, Ticket.organization_id, Ticket.assignee_id, Ticket.reference, Ticket.subject)
                .execution_options(synchronize_session=False)
            )
        ).all()
        for row in rows:
            session.add(TicketEvent(ticket_id=row.id, type="sla_breached", data={"target": target}, at=now))
            await _announce_breach(session, row=row, target=target)
            if events.listeners:
                breached = await session.get(Ticket, row.id, populate_existing=True)
                assert breached is not None
                await events.emit(session, TicketHappened(events.SLA_BREACHED, breached, now, {"target": target}))
        marked += len(rows)
    return marked


async def close_expired(session: AsyncSession, *, now: datetime, reopen_days: int, limit: int = 200) -> int:
    """Close the solved tickets whose reopen window has passed (and their conversations). Each
    close is a status change like a member's: recorded, and told to the automation rules and the
    webhooks in the same transaction."""
    cutoff = now - timedelta(days=reopen_days)
    expired = (
        select(Ticket.id)
        .where(Ticket.status == S.solved, Ticket.solved_at <= cutoff)
        .order_by(Ticket.solved_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    rows = (
        await session.execute(
            sa.update(Ticket)
            .where(Ticket.id.in_(expired), Ticket.status == S.solved)
            .values(status=S.closed, closed_at=now, updated_at=now, sla_paused=False)
            .returning(Ticket.id, Ticket.conversation_id)
            .execution_options(synchronize_session=False)
        )
    ).all()
    moved = {"from": S.solved, "to": S.closed}
    for row in rows:
        session.add(TicketEvent(ticket_id=row.id, type="status_changed", data=moved, at=now))
    if rows:
        await session.execute(
            sa.update(Conversation)
            .where(Conversation.id.in_([row.conversation_id for row in rows]))
            .values(status=ConversationStatus.closed, closed_at=now)
        )
    if events.listeners:
        for row in rows:
            closed = await session.get(Ticket, row.id, populate_existing=True)
            assert closed is not None
            await events.emit(session, TicketHappened(events.STATUS_CHANGED, closed, now, dict(moved)))
    return len(rows)


# --- announcements ------------------------------------------------------------------------------


async def _announce_assigned(session: AsyncSession, ticket: Ticket) -> None:
    assert ticket.assignee_id is not None
    await notifications_service.notify(
        session,
        user_id=ticket.assignee_id,
        kind="ticket_assigned",
        title=f"Ticket {ticket.reference} assigned to you",
        body=ticket.subject,
        data={"ticket_id": str(ticket.id), "reference": ticket.reference},
    )


async def _announce_requester(
    session: AsyncSession, ticket: Ticket, *, kind: str, title: str, what: str, message_body: str = ""
) -> None:
    """Notify and e-mail the requester (in the organization's template); the e-mail, when one is
    queued, is in the history."""
    assert ticket.requester_id is not None
    notification = await notifications_service.notify(
        session,
        user_id=ticket.requester_id,
        kind=kind,
        title=f"{title}: [#{ticket.reference}]",
        body=f"Your ticket [#{ticket.reference}] {ticket.subject} {what}.",
        data={"ticket_id": str(ticket.id), "reference": ticket.reference},
        email=True,
        organization_id=ticket.organization_id,
        email_values=await placeholders.ticket_values(session, ticket, message_body=message_body),
    )
    to = await session.scalar(select(OutboxEmail.to_address).where(OutboxEmail.notification_id == notification.id))
    if to is not None:
        record(session, ticket, "email_queued", actor=None, at=ticket.updated_at, data={"template": kind, "to": to})


async def _announce_breach(session: AsyncSession, *, row: Any, target: str) -> None:
    managers = await session.scalars(
        select(Membership.user_id).where(
            Membership.organization_id == row.organization_id,
            Membership.role.in_((MemberRole.owner, MemberRole.manager)),
        )
    )
    recipients = list(dict.fromkeys([*([row.assignee_id] if row.assignee_id else []), *managers]))
    words = "first response" if target == FIRST_RESPONSE else "resolution"
    for user_id in recipients:
        await notifications_service.notify(
            session,
            user_id=user_id,
            kind="sla_breached",
            title=f"SLA breached: [#{row.reference}]",
            body=f"The {words} target of [#{row.reference}] {row.subject} was missed.",
            data={"ticket_id": str(row.id), "reference": row.reference, "target": target},
        )


# --- categories ---------------------------------------------------------------------------------


async def create_category(session: AsyncSession, *, organization: Organization, data: CategoryCreate) -> TicketCategory:
    if data.department_id is not None:
        await _check_department(session, organization_id=organization.id, department_id=data.department_id)
    await _name_free(session, organization_id=organization.id, name=data.name)
    category = TicketCategory(organization_id=organization.id, name=data.name, department_id=data.department_id)
    session.add(category)
    await session.flush()
    await session.refresh(category)
    return category


async def _name_free(
    session: AsyncSession, *, organization_id: uuid.UUID, name: str, other_than: uuid.UUID | None = None
) -> None:
    query = select(TicketCategory.id).where(
        TicketCategory.organization_id == organization_id, func.lower(TicketCategory.name) == name.lower()
    )
    if other_than is not None:
        query = query.where(TicketCategory.id != other_than)
    if await session.scalar(query) is not None:
        raise TicketCategoryExists()


async def get_categories(session: AsyncSession, *, organization_id: uuid.UUID) -> Sequence[TicketCategory]:
    """The organization's categories, by name (no such organization: 404, as for its departments)."""
    await organizations_service.get_or_raise(session, organization_id)
    rows = await session.scalars(
        select(TicketCategory)
        .where(TicketCategory.organization_id == organization_id)
        .order_by(func.lower(TicketCategory.name), TicketCategory.id)
    )
    return rows.all()


async def get_managed_category(
    session: AsyncSession, *, caller: User | ApiKeyPrincipal, category_id: uuid.UUID
) -> TicketCategory:
    """The category, for its organization's owners, managers and keys (others: 404 or 403)."""
    category = await session.get(TicketCategory, category_id, with_for_update=True)
    if category is None:
        raise TicketCategoryNotFound()
    await organizations_service.require_staff(session, user=caller, organization_id=category.organization_id)
    await organizations_service.require_member_role(
        session, user=caller, organization_id=category.organization_id, minimum=MemberRole.manager
    )
    return category


async def update_category(session: AsyncSession, *, category: TicketCategory, data: CategoryUpdate) -> TicketCategory:
    changes = data.model_dump(exclude_unset=True)
    if changes.get("department_id") is not None:
        await _check_department(
            session, organization_id=category.organization_id, department_id=changes["department_id"]
        )
    if "name" in changes:
        await _name_free(
            session, organization_id=category.organization_id, name=changes["name"], other_than=category.id
        )
    for field, value in changes.items():
        setattr(category, field, value)
    await session.flush()
    return category


async def delete_category(session: AsyncSession, *, category: TicketCategory) -> None:
    in_use = await session.scalar(select(Ticket.id).where(Ticket.category_id == category.id).limit(1))
    if in_use is not None:
        raise TicketCategoryInUse()
    await session.delete(category)
    await session.flush()


# For the helpdesk's other features: an automation rule's assignment is announced like a member's.
announce_assigned = _announce_assigned
# An allowed status move with its history event (the caller refreshes the SLA): inbound e-mail.
move_status = _move
