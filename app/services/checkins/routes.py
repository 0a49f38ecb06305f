from typing import Any

from fastapi import APIRouter, Request

from app.core.database import SessionDep, release_connection
from app.core.dependencies import SettingsDep
from app.services.appointments import service as appointments_service
from app.services.appointments.dependencies import AppointmentWriter
from app.services.appointments.schemas import AppointmentRead
from app.services.checkins import service as checkins_service
from app.services.qr.dependencies import IMAGE_BODY, KeyringDep, read_image
from app.services.qr.schemas import CheckinCode

router = APIRouter(prefix="/checkins", tags=["checkins"])

RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "`not_found`: no such appointment, or not one of your organization's"},
    409: {"description": "`invalid_transition` (cancelled, completed, no-show), `checkin_window`"},
    422: {"description": "`invalid_code`: forged, altered or not a Queueless code"},
}


@router.post("", responses=RESPONSES)
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
    "/scan",
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
