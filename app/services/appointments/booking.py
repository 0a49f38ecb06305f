"""Booking: two round trips, the second one atomic on its own.

1. One read (`_read`): the login behind the access token, the service with its zone, hours and
   closures around the asked day, the service's requirements (the new appointment's body) and
   whether a booking there is published (`events.listening`).
   Python then checks that the time is one of the service's bookable slots.
2. One statement (`_write`): take a seat of the slot (the conditional upsert on `slot_loads`
   that guarantees capacity), insert the appointment and its first history row, store the
   citizen's notification and e-mail and send it live, and, when someone listens, the CTEs of the
   features that publish bookings (webhooks, see `events.py`). Data-modifying CTEs of one statement commit or fail
   together, so nothing is half-written:
   - a full slot takes no seat, so nothing else is inserted and no row comes back (`SlotFull`);
   - an overlapping active appointment of the same citizen (even one committed a moment ago by
     a concurrent request) violates `appointments_citizen_overlap_excl` and the statement,
     seat included, is undone (`OverlappingAppointment`);
   - the rare collision of a random reference is retried with a new one.

In a clinic the booking may be for a patient (`patient_id`, by a member of the clinic or by the
patient's linked account; a linked account's own booking there gets its record): the read also
finds the patient, the booker's membership and the chosen `staff_id`'s, and the appointment's
account (`citizen_id`, who is told) is the patient's, none for a patient without an account. The
patient's own exclusion constraint (`appointments_patient_overlap_excl`) keeps their appointments
from overlapping, as the citizen's does.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import asyncpg
from sqlalchemy import DateTime, Integer, String, Uuid, bindparam, exists, literal, select, true
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core import prepared
from app.core.errors import Conflict
from app.core.prepared import Prepared
from app.core.security import AccessClaims
from app.services.appointments import announcements, bookable_query, events, queries
from app.services.appointments.errors import InvalidStaff, OverlappingAppointment, SlotFull
from app.services.appointments.models import Appointment, AppointmentEvent, Status
from app.services.appointments.schemas import AppointmentRead
from app.services.appointments.service import new_reference
from app.services.auth import service as auth_service
from app.services.auth.errors import LoginEnded
from app.services.catalog.errors import ServiceNotFound
from app.services.notifications import service as notifications_service
from app.services.organizations.models import Membership
from app.services.patients import queries as patients_queries
from app.services.patients.errors import PatientArchived, PatientNotFound

OVERLAP_CONSTRAINTS = frozenset({"appointments_citizen_overlap_excl", "appointments_patient_overlap_excl"})
REFERENCE_ATTEMPTS = 3


@cache
def _read(to: tuple[events.Publisher, ...]) -> Prepared:
    """The read, asking `to` (`events.publishers`) whether a booking there would be published."""
    login = auth_service.open_login()
    service = bookable_query.statement(with_seats=False).add_columns(queries.new_requirements(bindparam("service_id")))
    body = service.lateral("service")
    patient_id = bindparam("patient_id", type_=Uuid)
    patient = patients_queries.for_booking(
        patient_id=patient_id, organization_id=body.c.organization_id, user_id=login.c.id
    ).lateral("patient")
    booker_role = (
        select(Membership.role)
        .where(Membership.organization_id == body.c.organization_id, Membership.user_id == login.c.id)
        .scalar_subquery()
        .label("booker_role")
    )
    staff_ok = (
        exists()
        .where(
            Membership.organization_id == body.c.organization_id,
            Membership.user_id == bindparam("staff_id", type_=Uuid),
        )
        .label("staff_ok")
    )
    published = events.listening(body.c.organization_id, kind=events.BOOKED, to=to).label("published")
    return Prepared(
        select(login.c.full_name, body, patient, booker_role, staff_ok, published).select_from(
            login.outerjoin(body, true()).outerjoin(patient, true())
        )
    )


@cache
def _write(*, announce: bool, to: tuple[events.Publisher, ...]) -> Prepared:
    """The write, telling the citizen (`announce`; not a clinic patient without an account) and
    publishing the booking to `to` (`events.publishers`, wired at startup, hence built on first use)."""
    seat = bookable_query.take_seat(
        bindparam("new_service_id", type_=Uuid),
        bindparam("new_starts_at", type_=DateTime(timezone=True)),
        bindparam("new_capacity", type_=Integer),
    ).cte("seat")
    values = select(
        bindparam("new_id", type_=Uuid),
        bindparam("new_reference", type_=String),
        bindparam("new_service_id", type_=Uuid),
        bindparam("new_organization_id", type_=Uuid),
        bindparam("new_citizen_id", type_=Uuid),
        bindparam("new_patient_id", type_=Uuid),
        bindparam("new_staff_id", type_=Uuid),
        bindparam("new_starts_at", type_=DateTime(timezone=True)),
        bindparam("new_ends_at", type_=DateTime(timezone=True)),
        literal(Status.booked.value),
        bindparam("new_notes", type_=String),
        bindparam("new_reason", type_=String),
    ).select_from(seat)
    columns = ["id", "reference", "service_id", "organization_id", "citizen_id", "patient_id", "staff_id"]
    appointment = (
        insert(Appointment)
        .from_select([*columns, "starts_at", "ends_at", "status", "notes", "reason"], values)
        .returning(*Appointment.__table__.c)
        .cte("appointment")
    )
    history = insert(AppointmentEvent).from_select(
        ["appointment_id", "to_status", "actor_id"],
        select(appointment.c.id, literal(Status.booked.value), bindparam("new_actor_id", type_=Uuid)),
    )
    statement = events.booked(select(appointment).add_cte(history.cte("history")), appointment=appointment, to=to)
    return Prepared(notifications_service.announced(statement, after=appointment) if announce else statement)


@dataclass(slots=True)
class _NewAppointment:
    """What the booking notification names, known before the row is written."""

    id: uuid.UUID
    reference: str
    service_id: uuid.UUID
    organization_id: uuid.UUID
    citizen_id: uuid.UUID | None
    starts_at: datetime
    status: str = Status.booked.value


def _party(
    row: Any, *, claims: AccessClaims, organization_id: uuid.UUID, patient_id: uuid.UUID | None
) -> tuple[uuid.UUID | None, notifications_service.Recipient | None]:
    """Whom the booking is for: (patient id or None, the account told or None)."""
    booker = notifications_service.Recipient(user_id=claims.user_id, full_name=row["full_name"])
    if row["patient_id"] is None or row["patient_organization_id"] != organization_id:
        if patient_id is not None:
            raise PatientNotFound()
        return None, booker
    if patient_id is not None and row["booker_role"] is None and row["patient_user_id"] != claims.user_id:
        raise PatientNotFound()  # neither a member of the clinic nor the patient's own account
    if row["patient_archived"]:
        raise PatientArchived()
    if row["patient_user_id"] is None:
        return row["patient_id"], None
    account = notifications_service.Recipient(user_id=row["patient_user_id"], full_name=row["patient_user_name"])
    return row["patient_id"], account


async def book(
    engine: AsyncEngine,
    *,
    claims: AccessClaims,
    service_id: uuid.UUID,
    starts_at: datetime,
    notes: str | None,
    patient_id: uuid.UUID | None = None,
    staff_id: uuid.UUID | None = None,
    reason: str | None = None,
) -> AppointmentRead:
    """Book a slot for the signed-in citizen, or for a clinic's patient. Under any concurrency a
    slot never holds more active appointments than its capacity, and neither a citizen nor a
    patient ever holds two that overlap."""
    starts_at = starts_at.astimezone(UTC)
    first, last = bookable_query.days_around(starts_at)
    publishers = events.publishers
    row = await prepared.fetchrow(
        engine,
        _read(publishers),
        **auth_service.login_parameters(claims),
        **bookable_query.parameters(service_id=service_id, first=first, last=last),
        patient_id=patient_id,
        staff_id=staff_id,
    )
    if row is None:
        raise LoginEnded()
    if row["organization_id"] is None:
        raise ServiceNotFound()
    service = bookable_query.from_row(row, first=first, last=last)
    patient, citizen = _party(row, claims=claims, organization_id=service.organization_id, patient_id=patient_id)
    if staff_id is not None and not row["staff_ok"]:
        raise InvalidStaff()
    publish_to = publishers if row["published"] else ()
    bookable_query.require_bookable(service, starts_at)
    values: dict[str, Any] = {
        "new_service_id": service_id,
        "new_organization_id": service.organization_id,
        "new_citizen_id": citizen.user_id if citizen else None,
        "new_patient_id": patient,
        "new_staff_id": staff_id,
        "new_actor_id": claims.user_id,
        "new_starts_at": starts_at,
        "new_ends_at": starts_at + service.rules.duration,
        "new_capacity": service.capacity,
        "new_notes": notes,
        "new_reason": reason,
    }
    for _ in range(REFERENCE_ATTEMPTS):
        new = _NewAppointment(
            id=uuid.uuid4(),
            reference=new_reference(),
            service_id=service_id,
            organization_id=service.organization_id,
            citizen_id=citizen.user_id if citizen else None,
            starts_at=starts_at,
        )
        statement, announcement = _write(announce=False, to=publish_to), {}
        if citizen is not None:
            message = announcements.appointment_message(
                "appointment_booked",
                appointment=new,
                service_name=service.service_name,
                organization_name=service.organization_name,
                timezone=service.timezone,
                actor_id=claims.user_id,
            )
            statement = _write(announce=True, to=publish_to)
            announcement = notifications_service.announcement_values(message, recipient=citizen)
        try:
            written = await prepared.fetchrow(
                engine, statement, **values, new_id=new.id, new_reference=new.reference, **announcement
            )
        except asyncpg.ExclusionViolationError as exc:
            if exc.constraint_name not in OVERLAP_CONSTRAINTS:
                raise
            raise OverlappingAppointment() from exc
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != "appointments_reference_key":
                raise
            continue  # the random reference was taken: draw another
        if written is None:
            raise SlotFull()
        return AppointmentRead.model_validate({**written, "requirements": row["requirements"]})
    raise Conflict("No free appointment reference was found; try again.")
