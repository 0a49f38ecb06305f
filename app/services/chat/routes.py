import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, WebSocket, status

from app.core.database import SessionDep
from app.core.dependencies import PageDep
from app.core.schemas import Page
from app.services.auth.dependencies import CurrentLogin, CurrentUser
from app.services.chat import service as chat_service
from app.services.chat import ws as chat_ws
from app.services.chat.models import ConversationStatus
from app.services.chat.schemas import (
    ConversationCreate,
    ConversationRead,
    MessageCreate,
    MessagePage,
    MessageRead,
    ReadCreate,
)

router = APIRouter(tags=["chat"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "`not_found`: no such conversation (or not yours)"}}
MessageId = Annotated[int, Query(ge=0, le=2**63 - 1)]


@router.post(
    "/conversations",
    status_code=status.HTTP_201_CREATED,
    responses={
        404: {"description": "`not_found`: no such organization"},
        422: {"description": "`validation_error`, `appointment_not_found`"},
    },
)
async def create_conversation(data: ConversationCreate, login: CurrentLogin, session: SessionDep) -> ConversationRead:
    """Start a conversation with an organization, optionally about one of your appointments there.
    `body` is its first message."""
    return await chat_service.create(session, citizen=login.user, login_session_id=login.session_id, data=data)


@router.get("/conversations")
async def list_conversations(
    user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    organization_id: uuid.UUID | None = None,
    status: ConversationStatus | None = None,
) -> Page[ConversationRead]:
    """Your own conversations and those of the organizations you work for, most recent activity
    first, each with its last message and your unread count. `organization_id` narrows to one
    organization."""
    views, total = await chat_service.get_all(
        session, user=user, organization_id=organization_id, status=status, offset=page.offset, limit=page.size
    )
    return Page.build(views, total=total, page=page.page, size=page.size)


@router.get("/conversations/{conversation_id}", responses=NOT_FOUND)
async def get_conversation(conversation_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> ConversationRead:
    """One conversation, with its last message and your unread count."""
    return await chat_service.get_view(session, user=user, conversation_id=conversation_id)


@router.get("/conversations/{conversation_id}/messages", responses=NOT_FOUND)
async def list_messages(
    conversation_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    before_id: MessageId | None = None,
    after_id: MessageId | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> MessagePage:
    """Messages in ascending id order: the latest `limit`; with `before_id` the `limit` just before
    it; with `after_id` the `limit` just after it. `has_more` tells whether more exist that way."""
    rows, has_more = await chat_service.get_messages(
        session, user=user, conversation_id=conversation_id, before_id=before_id, after_id=after_id, limit=limit
    )
    return MessagePage(items=[MessageRead.model_validate(row) for row in rows], has_more=has_more)


@router.post(
    "/conversations/{conversation_id}/messages",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"description": "A message with this `client_id` was already stored: it is returned, nothing new"},
        **NOT_FOUND,
        409: {"description": "`conversation_closed`"},
    },
)
async def create_message(
    conversation_id: uuid.UUID, data: MessageCreate, login: CurrentLogin, session: SessionDep, response: Response
) -> MessageRead:
    """Send a message; every participant's open chat sockets receive it."""
    message, created = await chat_service.post(
        session,
        sender=login.user,
        login_session_id=login.session_id,
        conversation_id=conversation_id,
        body=data.body,
        client_id=data.client_id,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return message


@router.post("/conversations/{conversation_id}/read", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_FOUND)
async def mark_conversation_read(
    conversation_id: uuid.UUID, data: ReadCreate, login: CurrentLogin, session: SessionDep
) -> None:
    """You have read everything up to `last_read_message_id`; the other side's sockets get a `read` frame."""
    await chat_service.mark_read(
        session,
        user=login.user,
        login_session_id=login.session_id,
        conversation_id=conversation_id,
        last_read_message_id=data.last_read_message_id,
    )


@router.post("/conversations/{conversation_id}/close", responses=NOT_FOUND)
async def close_conversation(conversation_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> ConversationRead:
    """The citizen or the organization's staff close the conversation; posting to it is then a 409."""
    return await chat_service.close(session, user=user, conversation_id=conversation_id)


@router.websocket("/ws/chat")
async def chat_socket(websocket: WebSocket, token: Annotated[str | None, Query(max_length=4096)] = None) -> None:
    """Live chat and notifications. Authenticate with `?token=<access token>` or, within 10 s, a first
    frame `{"type": "auth", "token"}` (close 4401: bad token or ended login; 4403: deactivated account).
    JSON text frames, at most 32 KiB, 20 a second (bursts of 40). Client frames: `send`
    {conversation_id, body, client_id}, `read` {conversation_id, last_read_message_id}, `resume`
    {conversation_id, after_id}, `ping`. Server frames: `message` {message}, `ack` {client_id,
    message}, `read` {conversation_id, user_id, last_read_message_id}, `notification`
    {notification}, `error` {code, detail}, `pong`."""
    await chat_ws.serve(websocket, token)
