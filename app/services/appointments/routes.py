import uuid
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response, status

from app.core.database import EngineDep, SessionDep
from app.core.dependencies import PageDep, SettingsDep
from app.core.schemas import Page, json_response, page_response
from app.services.apikeys.service import ApiKeyPrincipal
from app.services.appointments import booking
from app.services.appointments import service as appointments_service
from app.services.appointments.dependencies import (
    AppointmentReadAccess,
    AppointmentReader,
    AppointmentWriter,
    QueueReader,
)
from app.services.appointments.errors import InvalidStaff
from app.services.appointments.models import Status
from app.services.appointments.schemas import (
    AppointmentCreate,
    AppointmentRead,
    AssignRequest,
    CancelRequest,
    HistoryEntry,
    QueueItem,
    RescheduleRequest,
    Slot,
    StatusChange,
)
from app.services.auth.dependencies import AccessDep
from app.services.organizations.dependencies import GATE_RESPONSES

router = APIRouter(tags=["appointments"])

_BOOKING_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "`not_found` (also a patient you may not book for)"},
    409: {"description": "`slot_full`, `overlapping_appointment`, `patient_archived`"},
    422: {"description": "`slot_unavailable`, `invalid_staff`, `validation_error`"},
}


@router.get(
    "/services/{service_id}/slots",
    response_model=list[Slot],
    responses={
        404: {"description": "`not_found`: no such service"},
        422: {"description": "`range_too_long`, `invalid_range`"},
    },
)
async def list_slots(
    service_id: uuid.UUID,
    engine: EngineDep,
    from_: Annotated[date, Query(alias="from")],
    to: date,
) -> Response:
    """Public: bookable slots between two local dates (inclusive, at most 31 days), in time order.

    Past slots and slots inside the minimum notice are left out; a full slot stays with `available: 0`.
    """
    slots = await appointments_service.available_slots(engine, service_id=service_id, first=from_, last=to)
    return Response(content=slots, media_type="application/json")


@router.post(
    "/appointments",
    status_code=status.HTTP_201_CREATED,
    response_model=AppointmentRead,
    responses=_BOOKING_ERRORS,
)
async def create_appointment(data: AppointmentCreate, claims: AccessDep, engine: EngineDep) -> Response:
    """Book a slot. Under any concurrency a slot never holds more active appointments than its capacity.

    In a clinic, its members book for a patient (`patient_id`; `citizen_id` is then the patient's
    account, null without one) and may name the member who sees them (`staff_id`) and a `reason`;
    a patient's linked account books for itself, and its record is attached.
    """
    appointment = await booking.book(
        engine,
        claims=claims,
        service_id=data.service_id,
        starts_at=data.starts_at,
        notes=data.notes,
        patient_id=data.patient_id,
        staff_id=data.staff_id,
        reason=data.reason,
    )
    return json_response(appointment, status_code=status.HTTP_201_CREATED)


@router.get("/appointments", response_model=Page[AppointmentRead])
async def list_appointments(
    claims: AccessDep,
    engine: EngineDep,
    page: PageDep,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: date | None = None,
) -> Response:
    """Your own appointments, latest first. `from`/`to` are inclusive local dates."""
    items, total = await appointments_service.get_own(
        engine, claims=claims, status=status_, first=from_, last=to, offset=page.offset, limit=page.size
    )
    return page_response(items, total=total, page=page.page, size=page.size)


@router.get(
    "/appointments/{appointment_id}",
    response_model=AppointmentRead,
    responses={404: {"description": "`not_found`"}},
)
async def get_appointment(appointment_id: uuid.UUID, access: AppointmentReadAccess, engine: EngineDep) -> Response:
    """The owner, staff of its organization, an administrator, or the organization's API key
    (`appointments:read`)."""
    if isinstance(access, ApiKeyPrincipal):
        body = await appointments_service.get_read_for_key(engine, api_key=access, appointment_id=appointment_id)
    else:
        body = await appointments_service.get_read(engine, claims=access, appointment_id=appointment_id)
    return Response(body, media_type="application/json")


@router.post(
    "/appointments/{appointment_id}/cancel",
    responses={404: {"description": "`not_found`"}, 409: {"description": "`invalid_transition`, `too_late`"}},
)
async def cancel_appointment(
    appointment_id: uuid.UUID, data: CancelRequest, user: AppointmentWriter, session: SessionDep
) -> AppointmentRead:
    """The owner (before the start) or staff cancel a booked appointment; its seat is freed."""
    appointment = await appointments_service.get_visible(
        session, appointment_id=appointment_id, user=user, for_update=True
    )
    appointment = await appointments_service.cancel(session, appointment=appointment, actor=user, reason=data.reason)
    return await appointments_service.to_read(session, appointment)


@router.post("/appointments/{appointment_id}/reschedule", responses=_BOOKING_ERRORS)
async def reschedule_appointment(
    appointment_id: uuid.UUID, data: RescheduleRequest, user: AppointmentWriter, session: SessionDep
) -> AppointmentRead:
    """Move a booked appointment to another slot, atomically: the new seat is held and the old
    one freed, or nothing changes."""
    appointment = await appointments_service.get_visible(
        session, appointment_id=appointment_id, user=user, for_update=True
    )
    appointment = await appointments_service.reschedule(
        session, appointment=appointment, actor=user, starts_at=data.starts_at
    )
    return await appointments_service.to_read(session, appointment)


@router.get("/appointments/{appointment_id}/history", responses={404: {"description": "`not_found`"}})
async def get_appointment_history(
    appointment_id: uuid.UUID, user: AppointmentReader, session: SessionDep
) -> list[HistoryEntry]:
    """Every status change with who made it and when (the first entry is the booking)."""
    appointment = await appointments_service.get_visible(session, appointment_id=appointment_id, user=user)
    return await appointments_service.history(session, appointment=appointment)


@router.post(
    "/appointments/{appointment_id}/status",
    responses={
        403: {"description": "`forbidden`: the citizen of the appointment (only staff may)"},
        404: {"description": "`not_found`"},
        409: {"description": "`invalid_transition`, `checkin_window`"},
    },
)
async def change_appointment_status(
    appointment_id: uuid.UUID, data: StatusChange, user: AppointmentWriter, session: SessionDep, settings: SettingsDep
) -> AppointmentRead:
    """Staff: move the appointment along booked → checked_in → in_progress → completed (or
    cancelled / no_show). Any other move is 409 `invalid_transition`."""
    appointment = await appointments_service.get_for_staff(session, appointment_id=appointment_id, user=user)
    appointment = await appointments_service.change_status(
        session,
        appointment=appointment,
        actor=user,
        to=data.status,
        note=data.note,
        checkin_opens_before=settings.checkin_opens_before,
    )
    return await appointments_service.to_read(session, appointment)


@router.post(
    "/appointments/{appointment_id}/assign",
    responses={
        403: {"description": "`forbidden`: the citizen of the appointment (only staff may)"},
        404: {"description": "`not_found`"},
        422: {"description": "`not_a_member`"},
    },
)
async def assign_appointment(
    appointment_id: uuid.UUID, data: AssignRequest, user: AppointmentWriter, session: SessionDep
) -> AppointmentRead:
    """Staff: hand the appointment to a member of the same organization."""
    appointment = await appointments_service.get_for_staff(session, appointment_id=appointment_id, user=user)
    appointment = await appointments_service.assign(session, appointment=appointment, staff_id=data.staff_id)
    return await appointments_service.to_read(session, appointment)


@router.get("/organizations/{organization_id}/appointments", responses=GATE_RESPONSES)
async def list_organization_appointments(
    access: QueueReader,
    session: SessionDep,
    page: PageDep,
    date_: Annotated[date | None, Query(alias="date", description="Local date of the organization")] = None,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    service_id: uuid.UUID | None = None,
    q: Annotated[str | None, Query(max_length=200, description="Reference or citizen name")] = None,
    staff_id: Annotated[
        Literal["me"] | uuid.UUID | None, Query(description="`me` (your own calendar) or a member's user id")
    ] = None,
    patient_id: uuid.UUID | None = None,
    from_: Annotated[date | None, Query(alias="from", description="First local date, inclusive")] = None,
    to: Annotated[date | None, Query(description="Last local date, inclusive")] = None,
) -> Page[QueueItem]:
    """Staff: the organization's queue, in time order (a doctor's own calendar: `staff_id=me`)."""
    if staff_id == "me" and access.user is None:
        raise InvalidStaff("`staff_id=me` needs a signed-in member; an API key has no calendar of its own.")
    staff = access.user.id if staff_id == "me" and access.user is not None else staff_id
    assert not isinstance(staff, str)
    rows, total = await appointments_service.get_queue(
        session,
        organization=access.organization,
        day=date_,
        status=status_,
        service_id=service_id,
        q=q,
        offset=page.offset,
        limit=page.size,
        staff_id=staff,
        patient_id=patient_id,
        first=from_,
        last=to,
    )
    return Page.build([QueueItem.model_validate(r) for r in rows], total=total, page=page.page, size=page.size)
