"""In-app notifications (written in the caller's transaction, pushed live after commit) and the
announcements of appointment and document events.

Other features call `notify`, `announce_appointment` and `announce_document_review` from inside
their own unit of work: the notification (and its e-mail) is then stored if and only if the event
it announces is.
"""

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from string import Template
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import CTE, DateTime, Select, String, Uuid, bindparam, exists, func, insert, literal, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import metrics, paging, realtime
from app.core.errors import NotFound
from app.services.appointments.models import Appointment
from app.services.catalog.models import Service
from app.services.notifications.models import EmailStatus, Notification, OutboxEmail
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


@dataclass(frozen=True, slots=True)
class Message:
    kind: str
    title: str
    body: str
    data: dict[str, Any]
    email: bool


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
        user_id=user_id, kind=kind[:40], title=clip(title, 200), body=clip(body, 2000), data=data or {}
    )
    session.add(notification)
    await session.flush()
    if email:
        user = await session.get(User, user_id)
        if user is not None and user.is_active:
            subject, text = render_email(
                kind, full_name=user.full_name, title=notification.title, body=notification.body, data=notification.data
            )
            session.add(OutboxEmail(notification_id=notification.id, to_address=user.email, subject=subject, body=text))
            await session.flush()
    frame = {
        "type": "notification",
        "notification": NotificationRead.model_validate(notification).model_dump(mode="json"),
    }
    await realtime.send_to_users(session, user_ids=[user_id], frame=frame)
    return notification


@dataclass(frozen=True, slots=True)
class Recipient:
    user_id: uuid.UUID
    email: str
    full_name: str


def announced(statement: Select[Any], *, after: CTE) -> Select[Any]:
    """`statement`, extended to store a notification (with its e-mail when there is one) and send
    it live, in the same round trip, if and only if the CTE `after` has a row: the event and its
    announcement are stored together, by one statement. Its parameters: `announcement_values`.

    The statement's rows each send the live frame, so `statement` should read one row of `after`.
    """
    values = select(
        bindparam("notification_id", type_=Uuid),
        bindparam("notification_user_id", type_=Uuid),
        bindparam("notification_kind", type_=String),
        bindparam("notification_title", type_=String),
        bindparam("notification_body", type_=String),
        bindparam("notification_data", type_=JSONB),
        bindparam("notification_created_at", type_=DateTime(timezone=True)),
    ).where(exists(after.select()))
    stored = (
        insert(Notification)
        .from_select(["id", "user_id", "kind", "title", "body", "data", "created_at"], values)
        .returning(Notification.id)
        .cte("notification")
    )
    to_address = bindparam("email_to", type_=String)
    # Every column spelled out: a Python-side default would be evaluated once, when compiled.
    mail = insert(OutboxEmail).from_select(
        ["id", "notification_id", "to_address", "subject", "body", "status", "attempts"],
        select(
            func.gen_random_uuid(),
            stored.c.id,
            to_address,
            bindparam("email_subject", type_=String),
            bindparam("email_body", type_=String),
            literal(EmailStatus.pending.value),
            literal(0),
        ).where(to_address.is_not(None)),
    )
    live = func.pg_notify(realtime.CHANNEL, bindparam("live_payload", type_=String)).label("announced")
    return statement.add_cte(stored).add_cte(mail.cte("mail")).add_columns(live)


def announcement_values(message: Message, *, recipient: Recipient) -> dict[str, Any]:
    """The parameters of an `announced` statement that tells `recipient` the `message`.

    The notification's time is taken here (not by PostgreSQL) so that its live frame, built here,
    carries it.
    """
    notification = NotificationRead(
        id=uuid.uuid4(),
        kind=message.kind[:40],
        title=clip(message.title, 200),
        body=clip(message.body, 2000),
        data=message.data,
        read_at=None,
        created_at=datetime.now(UTC),
    )
    subject, text = (
        render_email(
            message.kind,
            full_name=recipient.full_name,
            title=notification.title,
            body=notification.body,
            data=message.data,
        )
        if message.email
        else (None, None)
    )
    frame = {"type": "notification", "notification": notification.model_dump(mode="json")}
    return {
        "notification_id": notification.id,
        "notification_user_id": recipient.user_id,
        "notification_kind": notification.kind,
        "notification_title": notification.title,
        "notification_body": notification.body,
        "notification_data": json.dumps(message.data, separators=(",", ":")),
        "notification_created_at": notification.created_at,
        "email_to": recipient.email if message.email else None,
        "email_subject": subject,
        "email_body": text,
        "live_payload": realtime.payload_for(recipient.user_id, frame),
    }


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


@lru_cache(maxsize=64)
def _template(kind: str) -> tuple[str, str]:
    path = TEMPLATES / f"{kind}.txt"
    if not path.is_file() or not kind.replace("_", "").isalnum():
        path = TEMPLATES / "default.txt"
    first, _, rest = path.read_text(encoding="utf-8").partition("\n")
    return first.removeprefix("Subject:").strip(), rest.lstrip("\n")


def render_email(kind: str, *, full_name: str, title: str, body: str, data: dict[str, Any]) -> tuple[str, str]:
    """The subject and body of the e-mail for a notification, from `templates/<kind>.txt`."""
    subject_template, body_template = _template(kind)
    values: dict[str, str] = {k: str(v) for k, v in data.items() if isinstance(v, str | int | float)}
    values |= {"full_name": full_name, "title": title, "body": body, "app_name": APP_NAME}
    rendered_subject = " ".join(Template(subject_template).safe_substitute(values).split())
    return clip(rendered_subject, 300), Template(body_template).safe_substitute(values)


# --- announcements ------------------------------------------------------------------------------


def format_local(moment: datetime, timezone: str) -> str:
    """`Tue 1 Dec 2026, 09:30` in the organization's time zone."""
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M}"


def _by_whom(*, citizen_id: uuid.UUID, actor_id: uuid.UUID | None, organization_name: str) -> tuple[str, str]:
    """(`by` value for data, phrase for the text)."""
    if actor_id is None:
        return "system", ""
    if actor_id == citizen_id:
        return "citizen", " by you"
    return "staff", f" by {organization_name}"


_STATUS_WORDS = {
    "booked": "booked",
    "checked_in": "checked in",
    "in_progress": "in progress",
    "completed": "completed",
    "cancelled": "cancelled",
    "no_show": "marked as missed",
}


class AppointmentFacts(Protocol):
    """What a message about an appointment names (an `Appointment` row has all of it)."""

    id: uuid.UUID
    reference: str
    service_id: uuid.UUID
    organization_id: uuid.UUID
    citizen_id: uuid.UUID
    starts_at: datetime
    status: str


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
    """Tell the appointment's citizen what happened to it, and by whom (see `appointment_message`)."""
    service = await session.get(Service, appointment.service_id)
    organization = await session.get(Organization, appointment.organization_id)
    assert service is not None
    assert organization is not None
    message = appointment_message(
        kind,
        appointment=appointment,
        service_name=service.name,
        organization_name=organization.name,
        timezone=organization.timezone,
        actor_id=actor.id if actor is not None else None,
        note=note,
        previous_starts_at=previous_starts_at,
        minutes_before=minutes_before,
    )
    return await notify(
        session,
        user_id=appointment.citizen_id,
        kind=kind,
        title=message.title,
        body=message.body,
        data=message.data,
        email=message.email,
    )


def appointment_message(
    kind: str,
    *,
    appointment: AppointmentFacts,
    service_name: str,
    organization_name: str,
    timezone: str,
    actor_id: uuid.UUID | None,
    note: str | None = None,
    previous_starts_at: datetime | None = None,
    minutes_before: int | None = None,
) -> Message:
    """The text of a message to the appointment's citizen about what happened to it, and by whom.

    Kinds: `appointment_booked` (also e-mailed), `appointment_cancelled`, `appointment_rescheduled`
    (pass `previous_starts_at` to name the old time), `appointment_status` (the appointment's
    current status is announced), `appointment_checked_in`, `rating_request` (after completion) and
    `reminder` (used by the reminder worker with `minutes_before`, also e-mailed).
    """
    if kind not in APPOINTMENT_KINDS:
        raise ValueError(f"unknown appointment notification kind {kind!r}")
    when = format_local(appointment.starts_at, timezone)
    by, by_phrase = _by_whom(citizen_id=appointment.citizen_id, actor_id=actor_id, organization_name=organization_name)
    what = f"{service_name} at {organization_name}"
    data: dict[str, Any] = {
        "appointment_id": str(appointment.id),
        "reference": appointment.reference,
        "service_id": str(appointment.service_id),
        "service_name": service_name,
        "organization_id": str(appointment.organization_id),
        "organization_name": organization_name,
        "starts_at": appointment.starts_at.isoformat(),
        "starts_at_local": when,
        "status": appointment.status,
        "actor_id": str(actor_id) if actor_id is not None else None,
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
                before = f" from {format_local(previous_starts_at, timezone)}"
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
    return Message(kind=kind, title=title, body=body, data=data, email=email)


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
    order = [Notification.created_at.desc(), Notification.id.desc()]
    return await paging.page_of(session, query, order_by=order, offset=offset, limit=limit)


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


async def queue_email(
    session: AsyncSession, *, to_address: str, full_name: str, kind: str, title: str, body: str, data: dict[str, Any]
) -> None:
    """An e-mail without an in-app notification (account mails: reset links, verification links,
    security changes), rendered from `templates/<kind>.txt` and sent by the outbox worker once the
    caller's transaction commits."""
    subject, text = render_email(kind, full_name=full_name, title=title, body=body, data=data)
    session.add(OutboxEmail(notification_id=None, to_address=to_address, subject=subject, body=text))
    await session.flush()


async def refresh_outbox_metric(session: AsyncSession) -> None:
    """`queueless_outbox_emails{state}` from the outbox itself, at each metrics scrape."""
    counts = dict((await session.execute(select(OutboxEmail.status, func.count()).group_by(OutboxEmail.status))).all())
    for state in EmailStatus:
        metrics.OUTBOX_EMAILS.labels(state.value).set(counts.get(state.value, 0))
