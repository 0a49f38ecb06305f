"""Conversations between a citizen and an organization, their messages, read markers and closing.

Who sees a conversation: its citizen, the organization's members, and platform admins; anyone else
is told it does not exist. Every message and read marker is pushed live to the participants'
sockets through `app.core.realtime` (after commit, on every server process).

Message ids come from one sequence, which can commit out of order across transactions; inserting
under a lock on the conversation row makes them commit in id order within a conversation, so a
client that resumes "after id N" never skips a message.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.core import realtime
from app.core.errors import Conflict, InvalidInput, NotFound
from app.services.appointments.models import Appointment
from app.services.chat.models import ChatMessage, Conversation, ConversationStatus, ReadMarker
from app.services.chat.schemas import ConversationCreate, ConversationRead, MessageRead
from app.services.notifications import service as notifications_service
from app.services.organizations import service as organizations_service
from app.services.organizations.models import Membership
from app.services.users.models import Role, User

MAX_PAGE = 100


class ConversationNotFound(NotFound):
    default_detail = "No such conversation."


class ConversationClosed(Conflict):
    code = "conversation_closed"
    default_detail = "This conversation is closed; start a new one."


class AppointmentNotFound(InvalidInput):
    code = "appointment_not_found"
    default_detail = "The appointment is not one of yours with this organization."


@dataclass(slots=True)
class Locked:
    """A conversation read under its row lock, with everyone who takes part in it."""

    conversation: Conversation
    participant_ids: list[uuid.UUID]


def message_frame(message: ChatMessage) -> dict[str, Any]:
    return {"type": "message", "message": MessageRead.model_validate(message).model_dump(mode="json")}


def _participants(conversation: Conversation, staff_ids: Sequence[uuid.UUID] | None) -> list[uuid.UUID]:
    return list(dict.fromkeys([conversation.citizen_id, *(staff_ids or ())]))


async def _load(session: AsyncSession, *, user: User, conversation_id: uuid.UUID, lock: bool = False) -> Locked:
    """The conversation and its participants in one round trip; NotFound unless the user may see it."""
    staff = (
        select(func.array_agg(Membership.user_id))
        .where(Membership.organization_id == Conversation.organization_id)
        .scalar_subquery()
    )
    query = (
        select(Conversation, staff).where(Conversation.id == conversation_id).execution_options(populate_existing=True)
    )
    if lock:
        query = query.with_for_update(of=Conversation)
    row = (await session.execute(query)).one_or_none()
    if row is None:
        raise ConversationNotFound()
    conversation, staff_ids = row
    participants = _participants(conversation, staff_ids)
    if user.id not in participants and user.role != Role.admin:
        raise ConversationNotFound()
    return Locked(conversation=conversation, participant_ids=participants)


async def create(session: AsyncSession, *, citizen: User, data: ConversationCreate) -> ConversationRead:
    organization = await organizations_service.get_or_raise(session, data.organization_id)
    if data.appointment_id is not None:
        found = await session.scalar(
            select(Appointment.id).where(
                Appointment.id == data.appointment_id,
                Appointment.citizen_id == citizen.id,
                Appointment.organization_id == organization.id,
            )
        )
        if found is None:
            raise AppointmentNotFound()
    conversation = Conversation(
        organization_id=organization.id,
        citizen_id=citizen.id,
        appointment_id=data.appointment_id,
        subject=data.subject,
    )
    session.add(conversation)
    await session.flush()
    await post(session, sender=citizen, conversation_id=conversation.id, body=data.body, client_id=data.client_id)
    return await get_view(session, user=citizen, conversation_id=conversation.id)


async def post(
    session: AsyncSession, *, sender: User, conversation_id: uuid.UUID, body: str, client_id: str | None
) -> tuple[ChatMessage, bool]:
    """Store a message (or find the one already stored under `client_id`) and push it live.

    Returns the message and whether it is new. `body` is already trimmed and bounded.
    """
    locked = await _load(session, user=sender, conversation_id=conversation_id, lock=True)
    conversation = locked.conversation
    if conversation.status != ConversationStatus.open:
        if client_id is not None and (existing := await _by_client_id(session, conversation, sender, client_id)):
            return existing, False
        raise ConversationClosed()
    # One round trip under the lock: the message, the conversation's last message, the sender's
    # read marker. A resend (same client_id) inserts nothing and returns no row.
    inserted = (
        insert(ChatMessage)
        .values(conversation_id=conversation.id, sender_id=sender.id, body=body, client_id=client_id)
        .on_conflict_do_nothing(index_elements=["conversation_id", "sender_id", "client_id"])
        .returning(*ChatMessage.__table__.c)
        .cte("inserted")
    )
    touched = (
        update(Conversation)
        .where(Conversation.id == inserted.c.conversation_id)
        .values(last_message_id=inserted.c.id, last_activity_at=inserted.c.created_at)
        .cte("touched")
    )
    marker = insert(ReadMarker).from_select(
        ["conversation_id", "user_id", "last_read_message_id"],
        select(inserted.c.conversation_id, inserted.c.sender_id, inserted.c.id),
    )
    marked = marker.on_conflict_do_update(
        index_elements=[ReadMarker.conversation_id, ReadMarker.user_id],
        set_={"last_read_message_id": marker.excluded.last_read_message_id, "updated_at": func.now()},
    ).cte("marked")
    row = (await session.execute(select(inserted).add_cte(touched).add_cte(marked))).one_or_none()
    if row is None:
        existing = await _by_client_id(session, conversation, sender, client_id)
        assert existing is not None
        return existing, False
    message = ChatMessage(**row._mapping)
    await realtime.send_to_users(session, user_ids=locked.participant_ids, frame=message_frame(message))
    await _notify_offline(session, locked=locked, sender=sender, message=message)
    return message, True


async def _by_client_id(
    session: AsyncSession, conversation: Conversation, sender: User, client_id: str | None
) -> ChatMessage | None:
    return await session.scalar(
        select(ChatMessage).where(
            ChatMessage.conversation_id == conversation.id,
            ChatMessage.sender_id == sender.id,
            ChatMessage.client_id == client_id,
        )
    )


async def _notify_offline(session: AsyncSession, *, locked: Locked, sender: User, message: ChatMessage) -> None:
    """An in-app notification for each other participant with no open chat socket anywhere."""
    others = [user_id for user_id in locked.participant_ids if user_id != sender.id]
    offline = set(others) - await realtime.online_user_ids(session, others)
    preview = message.body if len(message.body) <= 200 else message.body[:199] + "…"
    for user_id in others:
        if user_id in offline:
            await notifications_service.notify(
                session,
                user_id=user_id,
                kind="chat_message",
                title=f"New message: {locked.conversation.subject}",
                body=preview,
                data={"conversation_id": str(locked.conversation.id), "message_id": message.id},
            )


async def _advance_marker(
    session: AsyncSession, *, conversation_id: uuid.UUID, user_id: uuid.UUID, message_id: int
) -> bool:
    """Move the user's read marker forward (never back); True when it moved."""
    statement = insert(ReadMarker).values(
        conversation_id=conversation_id, user_id=user_id, last_read_message_id=message_id
    )
    moved = await session.scalar(
        statement.on_conflict_do_update(
            index_elements=[ReadMarker.conversation_id, ReadMarker.user_id],
            set_={"last_read_message_id": statement.excluded.last_read_message_id, "updated_at": func.now()},
            where=ReadMarker.last_read_message_id < statement.excluded.last_read_message_id,
        ).returning(ReadMarker.last_read_message_id)
    )
    return moved is not None


async def mark_read(
    session: AsyncSession, *, user: User, conversation_id: uuid.UUID, last_read_message_id: int
) -> None:
    """Everything up to `last_read_message_id` (capped at the latest message) is read; the other
    participants' sockets get a `read` frame when the marker moved."""
    locked = await _load(session, user=user, conversation_id=conversation_id)
    upto = min(last_read_message_id, locked.conversation.last_message_id or 0)
    if upto <= 0:
        return
    if await _advance_marker(session, conversation_id=conversation_id, user_id=user.id, message_id=upto):
        frame = {
            "type": "read",
            "conversation_id": str(conversation_id),
            "user_id": str(user.id),
            "last_read_message_id": upto,
        }
        await realtime.send_to_users(session, user_ids=locked.participant_ids, frame=frame)


async def close(session: AsyncSession, *, user: User, conversation_id: uuid.UUID) -> ConversationRead:
    """The citizen or the organization's staff close the conversation (closing twice is harmless)."""
    locked = await _load(session, user=user, conversation_id=conversation_id, lock=True)
    conversation = locked.conversation
    if conversation.status == ConversationStatus.open:
        conversation.status = ConversationStatus.closed
        conversation.closed_at = func.now()
        conversation.closed_by_id = user.id
        await session.flush()
    return await get_view(session, user=user, conversation_id=conversation_id)


async def get_messages(
    session: AsyncSession,
    *,
    user: User,
    conversation_id: uuid.UUID,
    before_id: int | None = None,
    after_id: int | None = None,
    limit: int = 50,
) -> tuple[Sequence[ChatMessage], bool]:
    """A page in ascending id order: the latest `limit`, the `limit` before `before_id`, or the
    `limit` after `after_id`; and whether more exist in the direction of paging."""
    await _load(session, user=user, conversation_id=conversation_id)
    query = select(ChatMessage).where(ChatMessage.conversation_id == conversation_id)
    if before_id is not None:
        query = query.where(ChatMessage.id < before_id)
    if after_id is not None:
        query = query.where(ChatMessage.id > after_id)
        rows = list(await session.scalars(query.order_by(ChatMessage.id).limit(limit + 1)))
        return rows[:limit], len(rows) > limit
    rows = list(await session.scalars(query.order_by(ChatMessage.id.desc()).limit(limit + 1)))
    return rows[:limit][::-1], len(rows) > limit


def _visible_to(user: User, *, organization_id: uuid.UUID | None, is_member: bool) -> ColumnElement[bool]:
    member_orgs = select(Membership.organization_id).where(Membership.user_id == user.id)
    if organization_id is not None:
        if is_member or user.role == Role.admin:
            return Conversation.organization_id == organization_id
        return and_(Conversation.organization_id == organization_id, Conversation.citizen_id == user.id)
    return or_(Conversation.citizen_id == user.id, Conversation.organization_id.in_(member_orgs))


async def _views(
    session: AsyncSession, *, user: User, where: Sequence[ColumnElement[bool]], offset: int = 0, limit: int = 1
) -> list[ConversationRead]:
    """Conversations with their last message and the user's unread count, in one query."""
    marker = aliased(ReadMarker)
    last = aliased(ChatMessage)
    unread_message = aliased(ChatMessage)
    unread = (
        select(func.count())
        .where(
            unread_message.conversation_id == Conversation.id,
            unread_message.id > func.coalesce(marker.last_read_message_id, 0),
            unread_message.sender_id != user.id,
        )
        .correlate(Conversation, marker)
        .scalar_subquery()
    )
    query = (
        select(Conversation, last, unread)
        .outerjoin(last, last.id == Conversation.last_message_id)
        .outerjoin(marker, and_(marker.conversation_id == Conversation.id, marker.user_id == user.id))
        .where(*where)
        .order_by(Conversation.last_activity_at.desc(), Conversation.id.desc())
        .offset(offset)
        .limit(limit)
    )
    views = []
    for conversation, last_message, unread_count in await session.execute(query):
        view = ConversationRead.model_validate(conversation)
        view.last_message = MessageRead.model_validate(last_message) if last_message is not None else None
        view.unread_count = unread_count
        views.append(view)
    return views


async def get_view(session: AsyncSession, *, user: User, conversation_id: uuid.UUID) -> ConversationRead:
    await _load(session, user=user, conversation_id=conversation_id)
    views = await _views(session, user=user, where=[Conversation.id == conversation_id])
    return views[0]


async def get_all(
    session: AsyncSession,
    *,
    user: User,
    organization_id: uuid.UUID | None,
    status: ConversationStatus | None,
    offset: int,
    limit: int,
) -> tuple[list[ConversationRead], int]:
    """The citizen's own conversations and those of the organizations the user works for;
    `organization_id` narrows to one organization (a non-member then sees only their own there)."""
    is_member = False
    if organization_id is not None:
        is_member = (
            await organizations_service.get_role(session, organization_id=organization_id, user_id=user.id)
        ) is not None
    where = [_visible_to(user, organization_id=organization_id, is_member=is_member)]
    if status is not None:
        where.append(Conversation.status == status)
    total = await session.scalar(select(func.count()).select_from(Conversation).where(*where)) or 0
    views = await _views(session, user=user, where=where, offset=offset, limit=min(limit, MAX_PAGE))
    return views, total
