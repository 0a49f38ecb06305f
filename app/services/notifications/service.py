"""In-app notifications (written in the caller's transaction, pushed live after commit) and the
announcements of appointment and document events.

Other features call `notify`, `announce_appointment` and `announce_document_review` from inside
their own unit of work: the notification (and its e-mail) is then stored if and only if the event
it announces is.
"""

import uuid
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from string import Template
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import realtime
from app.core.errors import NotFound
from app.services.appointments.models import Appointment
from app.services.catalog.models import Service
from app.services.notifications.models import Notification, OutboxEmail
from app.services.notifications.schemas import NotificationRead
from app.services.organizations.models import Organization
from app.services.users.models import User

APP_NAME = "Queueless"
TEMPLATES = Path(__file__).parent / "templates"

APPOINTMENT_KINDS = frozenset(
    {
        "appointment_booked",
        "appointment_cancelled",
        "appointment_rescheduled",
        "appointment_status",
        "appointment_checked_in",
        "rating_request",
        "reminder",
    }
)
DOCUMENT_DECISIONS = frozenset({"approved", "rejected"})


class NotificationNotFound(NotFound):
    default_detail = "No such notification."


# --- writing ------------------------------------------------------------------------------------


async def notify(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    kind: str,
    title: str,
    body: str,
    data: dict[str, Any] | None = None,
    email: bool = False,
) -> Notification:
    """Store a notification for `user_id` in the caller's transaction, queue its e-mail when
    `email` is true (and the account is active), and push it to the user's open sockets once the
    transaction commits."""
    notification = Notification(
        user_id=user_id, kind=kind[:40], title=_clip(title, 200), body=_clip(body, 2000), data=data or {}
    )
    session.add(notification)
    await session.flush()
    if email:
        user = await session.get(User, user_id)
        if user is not None and user.is_active:
            subject, text = render_email(kind, full_name=user.full_name, notification=notification)
            session.add(OutboxEmail(notification_id=notification.id, to_address=user.email, subject=subject, body=text))
            await session.flush()
    frame = {
        "type": "notification",
        "notification": NotificationRead.model_validate(notification).model_dump(mode="json"),
    }
    await realtime.send_to_users(session, user_ids=[user_id], frame=frame)
    return notification


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@lru_cache(maxsize=64)
def _template(kind: str) -> tuple[str, str]:
    path = TEMPLATES / f"{kind}.txt"
    if not path.is_file() or not kind.replace("_", "").isalnum():
        path = TEMPLATES / "default.txt"
    first, _, rest = path.read_text(encoding="utf-8").partition("\n")
    return first.removeprefix("Subject:").strip(), rest.lstrip("\n")


def render_email(kind: str, *, full_name: str, notification: Notification) -> tuple[str, str]:
    """The subject and body of the e-mail for a notification, from `templates/<kind>.txt`."""
    subject, body = _template(kind)
    values: dict[str, str] = {k: str(v) for k, v in notification.data.items() if isinstance(v, str | int | float)}
    values |= {"full_name": full_name, "title": notification.title, "body": notification.body, "app_name": APP_NAME}
    rendered_subject = " ".join(Template(subject).safe_substitute(values).split())
    return _clip(rendered_subject, 300), Template(body).safe_substitute(values)


# --- announcements ------------------------------------------------------------------------------


def format_local(moment: datetime, timezone: str) -> str:
    """`Tue 1 Dec 2026, 09:30` in the organization's time zone."""
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M}"


def _by_whom(appointment: Appointment, actor: User | None, organization: Organization) -> tuple[str, str]:
    """(`by` value for data, phrase for the text)."""
    if actor is None:
        return "system", ""
    if actor.id == appointment.citizen_id:
        return "citizen", " by you"
    return "staff", f" by {organization.name}"


_STATUS_WORDS = {
    "booked": "booked",
    "checked_in": "checked in",
    "in_progress": "in progress",
    "completed": "completed",
    "cancelled": "cancelled",
    "no_show": "marked as missed",
}


async def announce_appointment(
    session: AsyncSession,
    *,
    appointment: Appointment,
    kind: str,
    actor: User | None,
    note: str | None = None,
    previous_starts_at: datetime | None = None,
    minutes_before: int | None = None,
) -> Notification:
    """Tell the appointment's citizen what happened to it, and by whom.

    Kinds: `appointment_booked` (also e-mailed), `appointment_cancelled`, `appointment_rescheduled`
    (pass `previous_starts_at` to name the old time), `appointment_status` (the appointment's
    current status is announced), `appointment_checked_in`, `rating_request` (after completion) and
    `reminder` (used by the reminder worker with `minutes_before`, also e-mailed).
    """
    if kind not in APPOINTMENT_KINDS:
        raise ValueError(f"unknown appointment notification kind {kind!r}")
    service = await session.get(Service, appointment.service_id)
    organization = await session.get(Organization, appointment.organization_id)
    assert service is not None
    assert organization is not None
    when = format_local(appointment.starts_at, organization.timezone)
    by, by_phrase = _by_whom(appointment, actor, organization)
    what = f"{service.name} at {organization.name}"
    data: dict[str, Any] = {
        "appointment_id": str(appointment.id),
        "reference": appointment.reference,
        "service_id": str(service.id),
        "service_name": service.name,
        "organization_id": str(organization.id),
        "organization_name": organization.name,
        "starts_at": appointment.starts_at.isoformat(),
        "starts_at_local": when,
        "status": appointment.status,
        "actor_id": str(actor.id) if actor is not None else None,
        "by": by,
    }
    if note:
        data["note"] = note
    reason = f" Note: {note}" if note else ""
    email = False
    match kind:
        case "appointment_booked":
            title = "Appointment booked"
            body = f"Your appointment for {what} on {when} is booked{by_phrase} (reference {appointment.reference})."
            email = True
        case "appointment_cancelled":
            title = "Appointment cancelled"
            body = f"Your appointment for {what} on {when} was cancelled{by_phrase}.{reason}"
        case "appointment_rescheduled":
            title = "Appointment moved"
            if previous_starts_at is not None:
                data["previous_starts_at"] = previous_starts_at.isoformat()
                before = f" from {format_local(previous_starts_at, organization.timezone)}"
            else:
                before = ""
            body = f"Your appointment for {what} was moved{by_phrase}{before} to {when}.{reason}"
        case "appointment_checked_in":
            title = "Checked in"
            body = f"You are checked in for {what} on {when}. Please wait until you are called."
        case "appointment_status":
            words = _STATUS_WORDS.get(appointment.status, appointment.status)
            title = f"Appointment {words}"
            body = f"Your appointment for {what} on {when} is now {words}{by_phrase}.{reason}"
        case "rating_request":
            title = "How was your visit?"
            body = f"Please rate {what} ({when}): it takes a few seconds and helps others."
        case _:  # reminder
            data["minutes_before"] = minutes_before
            title = "Appointment reminder"
            body = f"Reminder: your appointment for {what} is on {when}{_in_how_long(minutes_before)}."
            email = True
    return await notify(
        session, user_id=appointment.citizen_id, kind=kind, title=title, body=body, data=data, email=email
    )


def _in_how_long(minutes: int | None) -> str:
    if not minutes:
        return ""
    if minutes % (24 * 60) == 0:
        days = minutes // (24 * 60)
        return " (tomorrow)" if days == 1 else f" (in {days} days)"
    if minutes % 60 == 0:
        hours = minutes // 60
        return f" (in {hours} hour{'s' if hours > 1 else ''})"
    return f" (in {minutes} minutes)"


async def announce_document_review(
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
    if decision not in DOCUMENT_DECISIONS:
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
    return await notify(
        session,
        user_id=user_id,
        kind=f"document_{decision}",
        title=title,
        body=body,
        data=data,
        email=decision == "rejected",
    )


# --- reading ------------------------------------------------------------------------------------


async def get_all(
    session: AsyncSession, *, user: User, unread: bool | None, offset: int, limit: int
) -> tuple[Sequence[Notification], int]:
    query = select(Notification).where(Notification.user_id == user.id)
    if unread is True:
        query = query.where(Notification.read_at.is_(None))
    elif unread is False:
        query = query.where(Notification.read_at.is_not(None))
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(
        query.order_by(Notification.created_at.desc(), Notification.id.desc()).offset(offset).limit(limit)
    )
    return rows.all(), total


async def count_unread(session: AsyncSession, *, user: User) -> int:
    count = await session.scalar(
        select(func.count()).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    )
    return count or 0


async def mark_read(session: AsyncSession, *, user: User, notification_id: uuid.UUID) -> None:
    """Idempotent: reading a read notification keeps its first `read_at`."""
    found = await session.scalar(
        select(Notification.id).where(Notification.id == notification_id, Notification.user_id == user.id)
    )
    if found is None:
        raise NotificationNotFound()
    await session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.read_at.is_(None))
        .values(read_at=func.now())
    )


async def mark_all_read(session: AsyncSession, *, user: User) -> int:
    result = await session.execute(
        update(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=func.now())
    )
    return int(getattr(result, "rowcount", 0) or 0)
