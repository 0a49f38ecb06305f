import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from app.core.database import SessionDep
from app.core.dependencies import PageDep
from app.core.schemas import Page
from app.services.auth.dependencies import CurrentUser
from app.services.notifications import service as notifications_service
from app.services.notifications.schemas import NotificationRead, UnreadCount

router = APIRouter(prefix="/notifications", tags=["notifications"])


@router.get("")
async def list_notifications(
    user: CurrentUser,
    session: SessionDep,
    page: PageDep,
    unread: Annotated[bool | None, Query(description="true: only unread; false: only read")] = None,
) -> Page[NotificationRead]:
    """Your notifications, newest first. A user connected to the chat socket also receives each new
    one live as `{"type": "notification", "notification": {...}}`."""
    rows, total = await notifications_service.get_all(
        session, user=user, unread=unread, offset=page.offset, limit=page.size
    )
    return Page.build([NotificationRead.model_validate(r) for r in rows], total=total, page=page.page, size=page.size)


@router.get("/unread-count")
async def count_unread_notifications(user: CurrentUser, session: SessionDep) -> UnreadCount:
    """How many of your notifications are unread (for a badge)."""
    return UnreadCount(count=await notifications_service.count_unread(session, user=user))


@router.post("/read-all", status_code=status.HTTP_204_NO_CONTENT)
async def read_all_notifications(user: CurrentUser, session: SessionDep) -> None:
    """Mark every one of your notifications read."""
    await notifications_service.mark_all_read(session, user=user)


@router.post(
    "/{notification_id}/read",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"description": "`not_found`: no such notification of yours"}},
)
async def read_notification(notification_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> None:
    """Mark one notification read (again is harmless: the first `read_at` stays)."""
    await notifications_service.mark_read(session, user=user, notification_id=notification_id)
