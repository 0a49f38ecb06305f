import hashlib
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from app.core.database import SessionDep, release_connection
from app.core.dependencies import SettingsDep
from app.services.appointments import service as appointments_service
from app.services.auth.dependencies import CurrentUser
from app.services.qr import service as qr_service
from app.services.qr.dependencies import IMAGE_BODY, KeyringDep, read_image
from app.services.qr.images import MEDIA_TYPES, ImageKind
from app.services.qr.schemas import MAX_SCALE, DecodedCode, DecodeResult, QrCreate

router = APIRouter(tags=["qr"])

IMAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {}, "image/svg+xml": {}}, "description": "The QR code"}
}


def _image_response(request: Request, image: bytes, kind: ImageKind, *, cache_control: str) -> Response:
    etag = '"' + hashlib.blake2b(image, digest_size=12).hexdigest() + '"'
    headers = {"ETag": etag, "Cache-Control": cache_control, "X-Content-Type-Options": "nosniff"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(image, media_type=MEDIA_TYPES[kind], headers=headers)


@router.get(
    "/appointments/{appointment_id}/qr",
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
    text = qr_service.appointment_code(ring, appointment.id)
    image = await qr_service.image(text, kind=format, scale=scale, cache=qr_service.appointment_images)
    return _image_response(request, image, format, cache_control="private, max-age=86400")


@router.post(
    "/qr",
    response_class=Response,
    responses={**IMAGE_RESPONSES, 422: {"description": "`validation_error`, `text_too_long`"}},
)
async def create_qr(data: QrCreate, request: Request, _: CurrentUser) -> Response:
    """The QR image of any text (kiosks, printed notices)."""
    image = await qr_service.image(data.text, kind=data.format, scale=data.scale, cache=None)
    return _image_response(request, image, data.format, cache_control="private, max-age=3600")


@router.post(
    "/qr/decode",
    openapi_extra=IMAGE_BODY,
    responses={
        413: {"description": "`payload_too_large`: too many bytes or pixels"},
        415: {"description": "`unsupported_media_type`: not an image, or not multipart"},
        422: {"description": "`validation_error`: no `file` part"},
    },
)
async def decode_qr(request: Request, _: CurrentUser, session: SessionDep, settings: SettingsDep) -> DecodeResult:
    """Every code found in an image (QR and the common barcodes), with its format. No code: `[]`."""
    await release_connection(session)
    data = await read_image(request, settings)
    codes = await qr_service.decode(data, max_pixels=settings.image_max_pixels, qr_only=False)
    return DecodeResult(codes=[DecodedCode(text=c.text, format=c.format) for c in codes])
