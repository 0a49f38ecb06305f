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

from sqlalchemy import (
    JSON,
    Boolean,
    ColumnElement,
    String,
    Text,
    Uuid,
    and_,
    bindparam,
    case,
    cast,
    false,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.core import realtime
from app.core.json_sql import json_object
from app.core.prepared import Prepared
from app.services.appointments.models import Appointment
from app.services.auth import service as auth_service
from app.services.auth.errors import LoginEnded
from app.services.chat.errors import ConversationAppointmentNotFound, ConversationClosed, ConversationNotFound
from app.services.chat.models import ChatMessage, Conversation, ConversationStatus, ReadMarker
from app.services.chat.schemas import ConversationCreate, ConversationRead, MessageRead
from app.services.notifications import service as notifications_service
from app.services.organizations import service as organizations_service
from app.services.organizations.models import Membership, Organization
from app.services.users.models import Role, User

MAX_PAGE = 100
CHAT_KIND = "chat_message"
PREVIEW_CHARS = 200


@dataclass(slots=True)
class Locked:
    """A conversation read under its row lock, with everyone who takes part in it."""

    conversation: Conversation
    participant_ids: list[uuid.UUID]
    sees_internal: bool = False  # a member of the organization or an admin


def message_frame(message: MessageRead) -> dict[str, Any]:
    return {"type": "message", "message": message.model_dump(mode="json")}


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
    participants = _participant_ids(conversation.citizen_id, staff_ids)
    if user.id not in participants and user.role != Role.admin:
        raise ConversationNotFound()
    if user.id != conversation.citizen_id:  # as staff: 403 `mfa_required` while the policy holds them back
        await organizations_service.is_staff(
            session, user=user, organization_id=conversation.organization_id, refuse_without_mfa=True
        )
    sees_internal = user.role == Role.admin or user.id in (staff_ids or ())
    return Locked(conversation=conversation, participant_ids=participants, sees_internal=sees_internal)


async def create(
    session: AsyncSession,
    *,
    citizen: User,
    login_session_id: uuid.UUID,
    data: ConversationCreate,
    document_ids: Sequence[uuid.UUID] = (),
) -> ConversationRead:
    """Open a conversation with its first message (`document_ids`: attachments another feature
    has checked, a helpdesk ticket's)."""
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
            raise ConversationAppointmentNotFound()
    conversation = Conversation(
        organization_id=organization.id,
        citizen_id=citizen.id,
        appointment_id=data.appointment_id,
        subject=data.subject,
    )
    session.add(conversation)
    await session.flush()
    await post(
        session,
        sender=citizen,
        login_session_id=login_session_id,
        conversation_id=conversation.id,
        body=data.body,
        client_id=data.client_id,
        document_ids=document_ids,
    )
    return await get_view(session, user=citizen, conversation_id=conversation.id)


async def create_on_behalf(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    citizen_id: uuid.UUID,
    subject: str,
    body: str,
    via: str = "web",
    author_email: str | None = None,
    document_ids: Sequence[uuid.UUID] = (),
) -> tuple[Conversation, ChatMessage]:
    """A conversation opened for a citizen (a helpdesk ticket opened by a member on their behalf,
    by e-mail or by an API key), and its first message in the citizen's name (`author_email`: the
    real sender, who has no account). Not a send: nobody follows a conversation that does not
    exist yet, so no live frame or notification goes out."""
    conversation = Conversation(organization_id=organization_id, citizen_id=citizen_id, subject=subject)
    session.add(conversation)
    await session.flush()
    message = ChatMessage(
        conversation_id=conversation.id,
        sender_id=citizen_id,
        body=body,
        via=via,
        author_email=author_email,
        document_ids=list(document_ids),
    )
    session.add(message)
    await session.flush()
    await session.refresh(message, ["id", "created_at"])
    conversation.last_message_id = message.id
    conversation.last_activity_at = message.created_at
    await session.flush()
    return conversation, message


# The send path runs at chat speed, so its statements are Core built once and compiled once
# (`Prepared`): no ORM objects, no per-call statement construction or cache keys (building and
# cache-keying the ORM version of this path cost several milliseconds of CPU per message).
# The role of the sender while their login holds (NULL when it has ended or the account is inactive).
_SENDER_ID = bindparam("sender_id", type_=Uuid)
# The organization's members who act as its staff in a conversation (recipients and senders):
# while the organization requires MFA, members without it are held back (their sockets get
# nothing of its conversations, and they cannot send).
_STAFF_IDS = (
    select(func.array_agg(Membership.user_id))
    .select_from(
        Membership.__table__.join(Organization, Organization.id == Membership.organization_id).join(
            User, User.id == Membership.user_id
        )
    )
    .where(
        Membership.organization_id == Conversation.organization_id,
        or_(~Organization.require_mfa, User.mfa_enabled_at.is_not(None)),
    )
    .correlate(Conversation)
    .scalar_subquery()
)
_PEEK = Prepared(
    select(
        Conversation.status,
        Conversation.subject,
        Conversation.citizen_id,
        Conversation.last_message_id,
        _STAFF_IDS.label("staff_ids"),
        auth_service.role_while_logged_in(bindparam("user_id", type_=Uuid), bindparam("session_id", type_=Uuid)).label(
            "role"
        ),
    ).where(Conversation.id == bindparam("conversation_id", type_=Uuid))
)


def _send_statement(*, on_behalf: bool = False) -> Any:
    """`post` in one statement. The conversation row is locked first (`conversation`); the
    message's id is drawn by the insert, which reads from the locked row, so ids commit in order
    within a conversation. Under the lock: the sender's login and right to post, the message
    (nothing on a resend of its `client_id`), the conversation's last message, the sender's read
    marker, the live frame (built around the new id and created_at, as `MessageRead` writes them)
    to every participant, and a notification to each other participant with no open socket.

    `on_behalf` (`post_on_behalf`): the caller has decided who may write and names the sender, so
    neither a login nor the sender's part in the conversation is checked."""
    conversation = (
        select(
            Conversation.id,
            Conversation.status,
            Conversation.subject,
            Conversation.citizen_id,
            _STAFF_IDS.label("staff_ids"),
        )
        .where(Conversation.id == bindparam("conversation_id", type_=Uuid))
        .with_for_update(of=Conversation)
        .cte("conversation")
    )
    role = (
        select(User.role).where(User.id == _SENDER_ID).scalar_subquery()
        if on_behalf
        else auth_service.role_while_logged_in(_SENDER_ID, bindparam("session_id", type_=Uuid))
    )
    sender = select(role.label("role")).cte("sender")
    internal = bindparam("internal", type_=Boolean)
    # An internal note reaches the organization's members only: never the citizen's sockets,
    # notifications or the conversation's last message.
    participants = case(
        (internal, conversation.c.staff_ids),
        else_=func.array_append(conversation.c.staff_ids, conversation.c.citizen_id),
    )
    may_post = [
        sender.c.role.is_not(None),
        or_(
            sender.c.role == Role.admin.value,
            conversation.c.citizen_id == _SENDER_ID,
            _SENDER_ID == func.any(conversation.c.staff_ids),
        ),
        or_(
            internal.is_(false()),
            sender.c.role == Role.admin.value,
            _SENDER_ID == func.any(conversation.c.staff_ids),
        ),
    ]
    ready = (
        select(conversation.c.id)
        .select_from(conversation.join(sender, true()))
        .where(conversation.c.status == ConversationStatus.open.value, *([] if on_behalf else may_post))
        .cte("ready")
    )
    message_columns = ["conversation_id", "sender_id", "body", "client_id", "internal", "via", "document_ids"]
    inserted = (
        insert(ChatMessage)
        .from_select(
            message_columns,
            select(
                ready.c.id,
                _SENDER_ID,
                bindparam("body", type_=String),
                bindparam("client_id", type_=String),
                internal,
                bindparam("via", type_=String),
                bindparam("document_ids", type_=ARRAY(Uuid)),
            ),
        )
        .on_conflict_do_nothing(
            index_elements=[ChatMessage.conversation_id, ChatMessage.sender_id, ChatMessage.client_id]
        )
        .returning(*ChatMessage.__table__.c)
        .cte("inserted")
    )
    touched = (
        update(Conversation)
        .where(Conversation.id == inserted.c.conversation_id, inserted.c.internal.is_(false()))
        .values(last_message_id=inserted.c.id, last_activity_at=inserted.c.created_at)
    )
    marker = insert(ReadMarker).from_select(
        ["conversation_id", "user_id", "last_read_message_id"],
        select(inserted.c.conversation_id, inserted.c.sender_id, inserted.c.id),
    )
    marked = marker.on_conflict_do_update(
        index_elements=[ReadMarker.conversation_id, ReadMarker.user_id],
        set_={"last_read_message_id": marker.excluded.last_read_message_id, "updated_at": func.now()},
    )
    frame = func.json_build_object(
        "type", "message", "message", cast(json_object(MessageRead, dict(inserted.c.items())), JSON)
    )  # fmt: skip
    live = realtime.sent_live(
        inserted.join(conversation, true()), recipients=participants, frame=cast(frame, Text), name="live"
    )
    recipient = (
        select(func.unnest(participants).label("user_id")).distinct().correlate(conversation).lateral("recipient")
    )
    offline, offline_mail = notifications_service.stored(
        select(
            recipient.c.user_id.label("user_id"),
            literal(CHAT_KIND).label("kind"),
            (literal("New message: ") + conversation.c.subject).label("title"),
            bindparam("preview", type_=String).label("body"),
            func.jsonb_build_object("conversation_id", inserted.c.conversation_id, "message_id", inserted.c.id).label(
                "data"
            ),
        )
        .select_from(inserted.join(conversation, true()).join(recipient, true()))
        .where(recipient.c.user_id != _SENDER_ID, ~realtime.online(recipient.c.user_id)),
        name="offline",
    )
    return (
        select(
            conversation.c.status,
            conversation.c.citizen_id,
            conversation.c.staff_ids,
            sender.c.role,
            inserted.c.id,
            inserted.c.created_at,
            select(func.count()).select_from(live).scalar_subquery().label("announced"),
        )
        .select_from(sender.outerjoin(conversation, true()).outerjoin(inserted, true()))
        .add_cte(touched.cte("touched"))
        .add_cte(marked.cte("marked"))
        .add_cte(offline, *offline_mail)
    )


_SEND = Prepared(_send_statement())
_SEND_ON_BEHALF = Prepared(_send_statement(on_behalf=True))
_BY_CLIENT_ID = Prepared(
    select(*ChatMessage.__table__.c).where(
        ChatMessage.conversation_id == bindparam("conversation_id", type_=Uuid),
        ChatMessage.sender_id == _SENDER_ID,
        ChatMessage.client_id == bindparam("client_id", type_=String),
    )
)


async def _fetch(session: AsyncSession, statement: Prepared, **params: Any) -> list[Any]:
    """The rows of a prepared statement, run in the session's transaction (or its autocommit)."""
    connection = await session.connection()
    result = await connection.exec_driver_sql(statement.sql, tuple(statement.arguments(params)))
    return list(result.mappings())


@dataclass(slots=True)
class Peek:
    """A conversation's state for the hot paths (Core row, no ORM object)."""

    conversation_id: uuid.UUID
    status: str
    subject: str
    last_message_id: int | None
    participant_ids: list[uuid.UUID]


async def _peek(session: AsyncSession, *, user: User, conversation_id: uuid.UUID, login_session_id: uuid.UUID) -> Peek:
    """One round trip: the conversation, its participants, whether the login still holds;
    NotFound unless the user may see it, LoginEnded when the login has ended."""
    rows = await _fetch(session, _PEEK, conversation_id=conversation_id, user_id=user.id, session_id=login_session_id)
    if not rows:
        raise ConversationNotFound()
    row = rows[0]
    if row["role"] is None:
        raise LoginEnded()
    participants = _participant_ids(row["citizen_id"], row["staff_ids"])
    if user.id not in participants and row["role"] != Role.admin:
        raise ConversationNotFound()
    return Peek(
        conversation_id=conversation_id,
        status=row["status"],
        subject=row["subject"],
        last_message_id=row["last_message_id"],
        participant_ids=participants,
    )


def _participant_ids(citizen_id: uuid.UUID, staff_ids: Sequence[uuid.UUID] | None) -> list[uuid.UUID]:
    return list(dict.fromkeys([citizen_id, *(staff_ids or ())]))


async def post(
    session: AsyncSession,
    *,
    sender: User,
    login_session_id: uuid.UUID,
    conversation_id: uuid.UUID,
    body: str,
    client_id: str | None,
    internal: bool = False,
    via: str = "web",
    document_ids: Sequence[uuid.UUID] = (),
) -> tuple[MessageRead, bool]:
    """Store a message (or find the one already stored under `client_id`) and push it live.

    Returns the message and whether it is new. `body` is already trimmed and bounded. An
    `internal` note (members and admins only) reaches the members alone. The sender's
    login (`login_session_id`) is checked in the same statement: LoginEnded when it has ended.

    One statement does it all (`_SEND`), so a session in autocommit mode stores a message, with
    the offline participants' notifications and its live frame, in a single round trip: all or
    nothing. In a transaction, they are part of it.
    """
    message = _Message(
        conversation_id=conversation_id,
        sender_id=sender.id,
        body=body,
        client_id=client_id,
        internal=internal,
        via=via,
        document_ids=list(document_ids),
    )
    row = await _send(session, _SEND, message, session_id=login_session_id)
    if row["status"] is None:
        raise ConversationNotFound()
    if row["role"] is None:
        raise LoginEnded()
    if sender.id not in _participant_ids(row["citizen_id"], row["staff_ids"]) and row["role"] != Role.admin:
        raise ConversationNotFound()
    return await _stored(session, row, message)


async def post_on_behalf(
    session: AsyncSession,
    *,
    sender_id: uuid.UUID,
    conversation_id: uuid.UUID,
    body: str,
    client_id: str | None,
    internal: bool,
    via: str,
) -> tuple[MessageRead, bool]:
    """`post` for a feature that has already decided that this message may be written (a
    helpdesk reply by an organization's API key, in a stand-in member's name): no login, and no
    check of the sender's part in the conversation; the same statement otherwise."""
    message = _Message(
        conversation_id=conversation_id,
        sender_id=sender_id,
        body=body,
        client_id=client_id,
        internal=internal,
        via=via,
        document_ids=[],
    )
    row = await _send(session, _SEND_ON_BEHALF, message)
    if row["status"] is None:
        raise ConversationNotFound()
    return await _stored(session, row, message)


@dataclass(frozen=True, slots=True)
class _Message:
    """A message to store: `MessageRead` but for what the database gives it (id, created_at)."""

    conversation_id: uuid.UUID
    sender_id: uuid.UUID
    body: str
    client_id: str | None
    internal: bool
    via: str
    document_ids: list[uuid.UUID]


async def _send(session: AsyncSession, statement: Prepared, message: _Message, **params: Any) -> Any:
    rows = await _fetch(
        session,
        statement,
        conversation_id=message.conversation_id,
        sender_id=message.sender_id,
        body=message.body,
        client_id=message.client_id,
        internal=message.internal,
        via=message.via,
        document_ids=message.document_ids,
        preview=notifications_service.clip(message.body, PREVIEW_CHARS),
        **params,
    )
    return rows[0]


async def _stored(session: AsyncSession, row: Any, message: _Message) -> tuple[MessageRead, bool]:
    """The message as stored by `_send` with its new id and time, and True; or, when nothing was
    inserted, the one already stored under its `client_id` and False (else the conversation is
    closed)."""
    if row["id"] is None:
        if message.client_id is not None:
            existing = await _fetch(
                session,
                _BY_CLIENT_ID,
                conversation_id=message.conversation_id,
                sender_id=message.sender_id,
                client_id=message.client_id,
            )
            if existing:
                return MessageRead.model_validate(existing[0]), False
        raise ConversationClosed()
    stored = MessageRead(
        id=row["id"],
        conversation_id=message.conversation_id,
        sender_id=message.sender_id,
        body=message.body,
        client_id=message.client_id,
        created_at=row["created_at"],
        internal=message.internal,
        via=message.via,
        document_ids=message.document_ids,
    )
    return stored, True


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
    session: AsyncSession,
    *,
    user: User,
    conversation_id: uuid.UUID,
    last_read_message_id: int,
    login_session_id: uuid.UUID,
) -> None:
    """Everything up to `last_read_message_id` (capped at the latest message) is read; the other
    participants' sockets get a `read` frame when the marker moved."""
    peek = await _peek(session, user=user, conversation_id=conversation_id, login_session_id=login_session_id)
    upto = min(last_read_message_id, peek.last_message_id or 0)
    if upto <= 0:
        return
    if await _advance_marker(session, conversation_id=conversation_id, user_id=user.id, message_id=upto):
        frame = {
            "type": "read",
            "conversation_id": str(conversation_id),
            "user_id": str(user.id),
            "last_read_message_id": upto,
        }
        await realtime.send_to_users(session, user_ids=peek.participant_ids, frame=frame)


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
    locked = await _load(session, user=user, conversation_id=conversation_id)
    return await get_thread(
        session,
        conversation_id=conversation_id,
        internal=locked.sees_internal,
        before_id=before_id,
        after_id=after_id,
        limit=limit,
    )


async def get_thread(
    session: AsyncSession,
    *,
    conversation_id: uuid.UUID,
    internal: bool,
    before_id: int | None,
    after_id: int | None,
    limit: int,
) -> tuple[Sequence[ChatMessage], bool]:
    """`get_messages` for a caller another feature has let in (a helpdesk ticket's API key):
    the internal notes only with `internal`."""
    query = select(ChatMessage).where(ChatMessage.conversation_id == conversation_id)
    if not internal:
        query = query.where(ChatMessage.internal.is_(False))
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
    if not user.mfa_enabled:  # organizations that require MFA withhold their conversations
        member_orgs = member_orgs.join(Organization, Organization.id == Membership.organization_id).where(
            Organization.require_mfa.is_(False)
        )
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
            # The citizen never counts the members' internal notes.
            or_(unread_message.internal.is_(False), Conversation.citizen_id != user.id),
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
        is_member = await organizations_service.is_staff(session, user=user, organization_id=organization_id)
    where = [_visible_to(user, organization_id=organization_id, is_member=is_member)]
    if status is not None:
        where.append(Conversation.status == status)
    total = await session.scalar(select(func.count()).select_from(Conversation).where(*where)) or 0
    views = await _views(session, user=user, where=where, offset=offset, limit=min(limit, MAX_PAGE))
    return views, total
