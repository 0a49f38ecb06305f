"""What the citizen is told about their appointment: the texts of the booking, cancellation,
rescheduling, status, check-in, rating-request and reminder notifications (and e-mails)."""

import uuid
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from app.services.appointments.models import Appointment
from app.services.catalog.models import Service
from app.services.notifications import service as notifications_service
from app.services.notifications.models import Notification
from app.services.notifications.service import Message
from app.services.organizations.models import Organization
from app.services.users.models import User

TEMPLATES = Path(__file__).parent / "templates"  # e-mail texts, see notifications/templates/README.txt
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


def format_local(moment: datetime, timezone: str) -> str:
    """`Tue 1 Dec 2026, 09:30` in the organization's time zone."""
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M}"


def _by_whom(*, citizen_id: uuid.UUID | None, actor_id: uuid.UUID | None, organization_name: str) -> tuple[str, str]:
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
    citizen_id: uuid.UUID | None
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
) -> Notification | None:
    """Tell the appointment's citizen what happened to it, and by whom (see `appointment_message`).

    A clinic patient without an account (`citizen_id` NULL) has nobody to tell: None.
    """
    if appointment.citizen_id is None:
        return None
    citizen_id = appointment.citizen_id
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
    return await notifications_service.notify(
        session,
        user_id=citizen_id,
        kind=kind,
        title=message.title,
        body=message.body,
        data=message.data,
        email=message.email,
        templates=message.templates,
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
    return Message(kind=kind, title=title, body=body, data=data, email=email, templates=TEMPLATES)


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
