"""Conversations between a citizen and an organization, their messages, read markers and closing.

Who sees a conversation: its citizen, the organization's members, and platform admins; anyone else
is told it does not exist. Every message and read marker is pushed live to the participants'
sockets through `app.core.realtime` (after commit, on every server process).

Message ids come from one sequence, which can commit out of order across transactions; inserting
under a lock on the conversation row makes them commit in id order within a conversation, so a
client that resumes "after id N" never skips a message.
"""

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.core import realtime
from app.core.errors import Conflict, InvalidInput, NotFound
from app.services.appointments.models import Appointment
from app.services.auth.errors import LoginEnded
from app.services.chat.models import ChatMessage, Conversation, ConversationStatus, ReadMarker
from app.services.chat.schemas import ConversationCreate, ConversationRead, MessageRead
from app.services.notifications import service as notifications_service
from app.services.organizations import service as organizations_service
from app.services.organizations.models import Membership, Organization
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


def message_frame(message: MessageRead) -> dict[str, Any]:
    return {"type": "message", "message": message.model_dump(mode="json")}


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
    if user.id != conversation.citizen_id:  # as staff: 403 `mfa_required` while the policy holds them back
        await organizations_service.is_staff(
            session, user=user, organization_id=conversation.organization_id, refuse_without_mfa=True
        )
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


# The send path runs at chat speed, so its statements are fixed SQL, built once: no ORM objects,
# no per-call statement construction (building and cache-keying the ORM version of this path cost
# several milliseconds of CPU per message). `:session_id` is NULL for REST, whose dependency has
# already checked the login; a socket passes its token's login so that a frame after logout or
# deactivation finds `role` NULL and is refused in the same round trip.
# The organization's members who act as its staff in a conversation `c` (recipients and senders):
# while the organization requires MFA, members without it are held back (their sockets get
# nothing of its conversations).
_STAFF_IDS = """ARRAY(SELECT m.user_id FROM memberships m
        JOIN organizations mo ON mo.id = m.organization_id JOIN users mu ON mu.id = m.user_id
        WHERE m.organization_id = c.organization_id AND (NOT mo.require_mfa OR mu.mfa_enabled_at IS NOT NULL))"""
# The role of `{user}` while the login holds (NULL when it has ended or the account is inactive).
_ROLE_WHILE_LOGGED_IN = """(SELECT u.role FROM users u
     WHERE u.id = {user} AND u.is_active AND (
        CAST(:session_id AS uuid) IS NULL OR EXISTS (
            SELECT 1 FROM login_sessions s
            WHERE s.id = CAST(:session_id AS uuid) AND s.user_id = u.id AND s.revoked_at IS NULL)))"""
# A `realtime_presence` row `p` of a user with an open socket somewhere.
_ONLINE = f"p.seen_at > now() - interval '{realtime.PRESENCE_TTL_SECONDS} seconds'"
_CONVERSATION_COLUMNS = f"""
    c.status, c.subject, c.citizen_id, c.last_message_id,
    {_STAFF_IDS} AS staff_ids,
    {_ROLE_WHILE_LOGGED_IN.format(user=":user_id")} AS role"""
_ONLINE_COLUMN = f"""
    ARRAY(SELECT DISTINCT p.user_id FROM {realtime.Presence.__tablename__} p
          WHERE {_ONLINE}
            AND (p.user_id = c.citizen_id OR p.user_id IN (
                SELECT m.user_id FROM memberships m WHERE m.organization_id = c.organization_id))) AS online_ids"""
# Locked for the insert (ids commit in order within the conversation); the participants' presence
# rides along, for the offline notifications.
_LOCK_FOR_POST = text(
    f"SELECT {_CONVERSATION_COLUMNS},{_ONLINE_COLUMN} FROM conversations c WHERE c.id = :conversation_id "
    "FOR UPDATE OF c"
)
_PEEK = text(f"SELECT {_CONVERSATION_COLUMNS} FROM conversations c WHERE c.id = :conversation_id")
# Under the lock, one round trip: the message, the conversation's last message, the sender's read
# marker. A resend (same client_id) inserts nothing and returns no row.
# After an `inserted` CTE: the conversation's last message and the sender's read marker.
_AFTER_INSERT = """, touched AS (
    UPDATE conversations SET last_message_id = inserted.id, last_activity_at = inserted.created_at
    FROM inserted WHERE conversations.id = inserted.conversation_id
), marked AS (
    INSERT INTO chat_read_markers (conversation_id, user_id, last_read_message_id)
    SELECT conversation_id, sender_id, id FROM inserted
    ON CONFLICT (conversation_id, user_id)
    DO UPDATE SET last_read_message_id = excluded.last_read_message_id, updated_at = now()
)"""
_INSERT_MESSAGE = text(f"""
WITH inserted AS (
    INSERT INTO chat_messages (conversation_id, sender_id, body, client_id)
    VALUES (:conversation_id, :sender_id, :body, :client_id)
    ON CONFLICT (conversation_id, sender_id, client_id) DO NOTHING
    RETURNING id, conversation_id, sender_id, body, client_id, created_at
){_AFTER_INSERT}
SELECT id, conversation_id, sender_id, body, client_id, created_at FROM inserted
""")
# `post` in one statement. The conversation row is locked first (`conv`); the message's id is drawn
# by the insert, which reads from the locked row, so ids commit in order within a conversation. The
# live frame is built here, around the new id and created_at (formatted as the API's schemas do:
# microseconds only when non-zero, `Z`), and announced with pg_notify in the same transaction.
# `fits` is false when that notification would be too big: then nothing is inserted.
_CREATED_AT_JSON = (
    "to_char(inserted.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || "
    "CASE WHEN date_trunc('second', inserted.created_at) = inserted.created_at THEN '' "
    "ELSE to_char(inserted.created_at AT TIME ZONE 'UTC', '.US') END || 'Z'"
)
_FRAME_JSON = (
    """'{"type":"message","message":{"id":' || inserted.id || CAST(:frame_middle AS text) || """
    f"""{_CREATED_AT_JSON} || '"}}}}'"""
)
_POST = text(f"""
WITH conv AS (
    SELECT c.id, c.status, c.subject, c.citizen_id,
        {_STAFF_IDS} AS staff_ids
    FROM conversations c WHERE c.id = CAST(:conversation_id AS uuid)
    FOR UPDATE OF c
), me AS (
    SELECT {_ROLE_WHILE_LOGGED_IN.format(user="CAST(:sender_id AS uuid)")} AS role
), ready AS (
    SELECT conv.id,
        (SELECT json_agg(DISTINCT r.u)::text
         FROM unnest(array_append(conv.staff_ids, conv.citizen_id)) AS r(u)) AS recipients
    FROM conv, me
    WHERE conv.status = 'open' AND me.role IS NOT NULL
        AND (me.role = 'admin' OR conv.citizen_id = CAST(:sender_id AS uuid)
             OR CAST(:sender_id AS uuid) = ANY(conv.staff_ids))
), checked AS (
    SELECT ready.id, ready.recipients,
        octet_length(ready.recipients) + octet_length(CAST(:frame_middle AS text)) + 200
            < CAST(:max_payload AS integer) AS fits
    FROM ready
), inserted AS (
    INSERT INTO chat_messages (conversation_id, sender_id, body, client_id)
    SELECT checked.id, CAST(:sender_id AS uuid), CAST(:body AS text), CAST(:client_id AS text)
    FROM checked WHERE checked.fits
    ON CONFLICT (conversation_id, sender_id, client_id) DO NOTHING
    RETURNING id, conversation_id, sender_id, created_at
){_AFTER_INSERT}, announced AS (
    SELECT {realtime.notify_sql(recipients="checked.recipients", frame=_FRAME_JSON)} FROM inserted, checked
), offline AS (
    INSERT INTO notifications (id, user_id, kind, title, body, data)
    SELECT gen_random_uuid(), r.user_id, 'chat_message',
        CASE WHEN char_length(t.title) <= 200 THEN t.title ELSE left(t.title, 199) || '…' END,
        CAST(:preview AS text),
        jsonb_build_object('conversation_id', inserted.conversation_id, 'message_id', inserted.id)
    FROM inserted, conv
    CROSS JOIN LATERAL (SELECT 'New message: ' || conv.subject AS title) AS t
    CROSS JOIN LATERAL (
        SELECT DISTINCT u.user_id FROM unnest(array_append(conv.staff_ids, conv.citizen_id)) AS u(user_id)
    ) AS r
    WHERE r.user_id <> CAST(:sender_id AS uuid) AND NOT EXISTS (
        SELECT 1 FROM {realtime.Presence.__tablename__} p
        WHERE p.user_id = r.user_id AND {_ONLINE})
    RETURNING 1
)
SELECT conv.status, conv.subject, conv.citizen_id, conv.staff_ids, me.role, coalesce(checked.fits, true) AS fits,
    inserted.id, inserted.created_at, (SELECT count(*) FROM announced) AS announced
FROM me LEFT JOIN conv ON true LEFT JOIN checked ON true LEFT JOIN inserted ON true
""")
_BY_CLIENT_ID = text(
    "SELECT id, conversation_id, sender_id, body, client_id, created_at FROM chat_messages "
    "WHERE conversation_id = :conversation_id AND sender_id = :sender_id AND client_id = :client_id"
)


@dataclass(slots=True)
class Peek:
    """A conversation's state for the hot paths (Core row, no ORM object)."""

    conversation_id: uuid.UUID
    status: str
    subject: str
    last_message_id: int | None
    participant_ids: list[uuid.UUID]
    online_ids: set[uuid.UUID]


async def _peek(
    session: AsyncSession,
    *,
    user: User,
    conversation_id: uuid.UUID,
    login_session_id: uuid.UUID | None,
    lock: bool,
) -> Peek:
    """One round trip: the conversation (locked for a post), its participants, whether the login
    still holds; NotFound unless the user may see it, LoginEnded when the login has ended."""
    connection = await session.connection()
    row = (
        await connection.execute(
            _LOCK_FOR_POST if lock else _PEEK,
            {"conversation_id": conversation_id, "user_id": user.id, "session_id": login_session_id},
        )
    ).one_or_none()
    if row is None:
        raise ConversationNotFound()
    if row.role is None:
        raise LoginEnded()
    participants = list(dict.fromkeys([row.citizen_id, *(row.staff_ids or ())]))
    if user.id not in participants and row.role != Role.admin:
        raise ConversationNotFound()
    return Peek(
        conversation_id=conversation_id,
        status=row.status,
        subject=row.subject,
        last_message_id=row.last_message_id,
        participant_ids=participants,
        online_ids=set(row.online_ids) if lock else set(),
    )


async def post(
    session: AsyncSession,
    *,
    sender: User,
    conversation_id: uuid.UUID,
    body: str,
    client_id: str | None,
    login_session_id: uuid.UUID | None = None,
) -> tuple[MessageRead, bool]:
    """Store a message (or find the one already stored under `client_id`) and push it live.

    Returns the message and whether it is new. `body` is already trimmed and bounded. A socket
    passes its login (`login_session_id`): LoginEnded when it has ended.

    One statement does it all (`_POST`), so a session in autocommit mode stores a message, with
    the offline participants' notifications, in a single round trip: both or neither. When its
    live frame is too big to travel inline (a long body, a very large staff), nothing is stored
    and the steps run one by one instead, which needs a transaction: in autocommit mode that
    raises NeedsTransaction for the caller to retry in one.
    """
    connection = await session.connection()
    params = {"conversation_id": conversation_id, "sender_id": sender.id, "client_id": client_id}
    row = (
        await connection.execute(
            _POST,
            {
                **params,
                "body": body,
                "session_id": login_session_id,
                "frame_middle": _frame_middle(conversation_id, sender.id, body, client_id),
                "preview": _preview(body),
                "max_payload": realtime.MAX_PAYLOAD_BYTES,
            },
        )
    ).one()
    if row.status is None:
        raise ConversationNotFound()
    if row.role is None:
        raise LoginEnded()
    if sender.id != row.citizen_id and sender.id not in (row.staff_ids or ()) and row.role != Role.admin:
        raise ConversationNotFound()
    if row.status != ConversationStatus.open:
        if client_id is not None and (existing := (await connection.execute(_BY_CLIENT_ID, params)).one_or_none()):
            return MessageRead.model_validate(existing), False
        raise ConversationClosed()
    if not row.fits:
        if connection.sync_connection is not None and _autocommit(connection.sync_connection):
            raise NeedsTransaction()
        return await _post_in_steps(
            session, sender=sender, conversation_id=conversation_id, body=body, client_id=client_id
        )
    if row.id is None:
        existing = (await connection.execute(_BY_CLIENT_ID, params)).one()
        return MessageRead.model_validate(existing), False
    message = MessageRead(
        id=row.id,
        conversation_id=conversation_id,
        sender_id=sender.id,
        body=body,
        client_id=client_id,
        created_at=row.created_at,
    )
    return message, True


def _autocommit(connection: Connection) -> bool:
    return connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT"


class NeedsTransaction(Exception):
    """`post` in autocommit mode met a message whose live frame must be stored apart: retry it in a
    transaction (nothing was stored)."""


def _frame_middle(conversation_id: uuid.UUID, sender_id: uuid.UUID, body: str, client_id: str | None) -> str:
    """The message frame's JSON between its id and its created_at value (see `_POST`)."""
    return (
        f',"conversation_id":"{conversation_id}","sender_id":"{sender_id}",'
        f'"body":{json.dumps(body, ensure_ascii=False)},"client_id":{json.dumps(client_id)},"created_at":"'
    )


async def _post_in_steps(
    session: AsyncSession, *, sender: User, conversation_id: uuid.UUID, body: str, client_id: str | None
) -> tuple[MessageRead, bool]:
    """`post` for a message whose frame cannot ride in `_POST`'s notification (in a transaction)."""
    peek = await _peek(session, user=sender, conversation_id=conversation_id, login_session_id=None, lock=True)
    connection = await session.connection()
    params = {"conversation_id": conversation_id, "sender_id": sender.id, "client_id": client_id}
    row = (await connection.execute(_INSERT_MESSAGE, {**params, "body": body})).one_or_none()
    if row is None:
        existing = (await connection.execute(_BY_CLIENT_ID, params)).one()
        return MessageRead.model_validate(existing), False
    message = MessageRead.model_validate(row)
    await realtime.send_to_users(session, user_ids=peek.participant_ids, frame=message_frame(message))
    await _notify_offline(session, peek=peek, sender=sender, message=message)
    return message, True


def _preview(body: str) -> str:
    return notifications_service.clip(body, 200)


async def _notify_offline(session: AsyncSession, *, peek: Peek, sender: User, message: MessageRead) -> None:
    """An in-app notification for each other participant with no open chat socket anywhere (the
    step-by-step path; `_POST` stores the same ones in its own statement)."""
    offline = [user_id for user_id in peek.participant_ids if user_id != sender.id and user_id not in peek.online_ids]
    if not offline:
        return
    preview = _preview(message.body)
    for user_id in offline:
        await notifications_service.notify(
            session,
            user_id=user_id,
            kind="chat_message",
            title=f"New message: {peek.subject}",
            body=preview,
            data={"conversation_id": str(peek.conversation_id), "message_id": message.id},
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
    session: AsyncSession,
    *,
    user: User,
    conversation_id: uuid.UUID,
    last_read_message_id: int,
    login_session_id: uuid.UUID | None = None,
) -> None:
    """Everything up to `last_read_message_id` (capped at the latest message) is read; the other
    participants' sockets get a `read` frame when the marker moved."""
    peek = await _peek(
        session, user=user, conversation_id=conversation_id, login_session_id=login_session_id, lock=False
    )
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
