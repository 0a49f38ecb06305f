from fastapi import APIRouter, Request, Response

from app.core.database import SessionDep, release_connection
from app.core.dependencies import SettingsDep
from app.services.auth.dependencies import CurrentUser
from app.services.qr import service as qr_service
from app.services.qr.dependencies import IMAGE_BODY, IMAGE_RESPONSES, image_response, read_image
from app.services.qr.schemas import DecodedCode, DecodeResult, QrCreate

router = APIRouter(tags=["qr"])


@router.post(
    "/qr",
    response_class=Response,
    responses={**IMAGE_RESPONSES, 422: {"description": "`validation_error`, `text_too_long`"}},
)
async def create_qr(data: QrCreate, request: Request, _: CurrentUser) -> Response:
    """The QR image of any text (kiosks, printed notices)."""
    image = await qr_service.image(data.text, kind=data.format, scale=data.scale, cache=None)
    return image_response(request, image, data.format, cache_control="private, max-age=3600")


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
