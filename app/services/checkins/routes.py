import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from app.core.database import SessionDep, release_connection
from app.core.dependencies import SettingsDep
from app.services.appointments import service as appointments_service
from app.services.appointments.dependencies import AppointmentWriter
from app.services.appointments.schemas import AppointmentRead
from app.services.auth.dependencies import CurrentUser
from app.services.checkins import service as checkins_service
from app.services.checkins.schemas import CheckinCode
from app.services.qr import service as qr_service
from app.services.qr.dependencies import IMAGE_BODY, IMAGE_RESPONSES, KeyringDep, image_response, read_image
from app.services.qr.images import ImageKind
from app.services.qr.schemas import MAX_SCALE

router = APIRouter()

RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "`forbidden`: the citizen of the appointment (only staff check in)"},
    404: {"description": "`not_found`: no such appointment, or not one of your organization's"},
    409: {"description": "`invalid_transition` (cancelled, completed, no-show), `checkin_window`"},
    422: {"description": "`invalid_code`: forged, altered or not a Queueless code"},
}


@router.post("/checkins", tags=["checkins"], responses=RESPONSES)
async def check_in_by_code(
    data: CheckinCode, user: AppointmentWriter, session: SessionDep, ring: KeyringDep, settings: SettingsDep
) -> AppointmentRead:
    """Staff: check an appointment in from the text its QR code holds (what a hardware scanner types).
    Scanning again returns the appointment unchanged."""
    appointment = await checkins_service.check_in_by_code(
        session,
        ring=ring,
        code=data.code,
        actor=user,
        opens_before=settings.checkin_opens_before,
    )
    return await appointments_service.to_read(session, appointment)


@router.post(
    "/checkins/scan",
    tags=["checkins"],
    openapi_extra=IMAGE_BODY,
    responses={
        **RESPONSES,
        413: {"description": "`payload_too_large`: too many bytes or pixels"},
        415: {"description": "`unsupported_media_type`: not an image"},
        422: {"description": "`invalid_code`, `no_code_found`"},
    },
)
async def check_in_by_photo(
    request: Request, user: AppointmentWriter, session: SessionDep, ring: KeyringDep, settings: SettingsDep
) -> AppointmentRead:
    """Staff: check an appointment in from a photo or screenshot of its QR code (multipart `file`)."""
    await release_connection(session)
    image = await read_image(request, settings)
    appointment = await checkins_service.check_in_by_photo(
        session,
        ring=ring,
        image=image,
        max_pixels=settings.image_max_pixels,
        actor=user,
        opens_before=settings.checkin_opens_before,
    )
    return await appointments_service.to_read(session, appointment)


@router.get(
    "/appointments/{appointment_id}/qr",
    tags=["qr"],
    response_class=Response,
    responses={**IMAGE_RESPONSES, 404: {"description": "`not_found`"}},
)
async def get_appointment_qr(
    appointment_id: uuid.UUID,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    ring: KeyringDep,
    format: ImageKind = ImageKind.png,
    scale: Annotated[int, Query(ge=1, le=MAX_SCALE, description="Pixels per module")] = 8,
) -> Response:
    """The appointment's QR code (its owner, staff of its organization, or an admin). It carries a
    signed token naming the appointment and nothing personal; it never changes, so cache it."""
    appointment = await appointments_service.get_visible(session, appointment_id=appointment_id, user=user)
    text = checkins_service.appointment_code(ring, appointment.id)
    image = await qr_service.image(text, kind=format, scale=scale, cache=checkins_service.appointment_images)
    return image_response(request, image, format, cache_control="private, max-age=86400")
