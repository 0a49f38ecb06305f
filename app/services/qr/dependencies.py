"""Shared by the QR and check-in routes: the code keyring and reading an uploaded image."""

import hashlib
from typing import Annotated, Any

from fastapi import Depends, Request, Response

from app.core.dependencies import SettingsDep, SignerDep
from app.core.errors import PayloadTooLarge
from app.core.settings import Settings
from app.core.uploads import Limit, MemorySink, openapi_form, read_form
from app.services.qr import service as qr_service
from app.services.qr.errors import NotAnImage
from app.services.qr.images import MEDIA_TYPES, ImageKind
from app.services.qr.tokens import Keyring

_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")


async def get_keyring(settings: SettingsDep, signer: SignerDep) -> Keyring:
    return qr_service.keyring(secret=signer.secret_key, kid=settings.qr_key_id, retired=settings.qr_retired_keys)


KeyringDep = Annotated[Keyring, Depends(get_keyring)]


def _sniff_image(head: bytes) -> None:
    if not (head.startswith(_IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")):
        raise NotAnImage()


async def read_image(request: Request, settings: Settings) -> bytes:
    """The multipart `file` of the request, refused (413/415) while it arrives when it is too big or
    not an image."""
    too_large = Limit(
        settings.max_upload_bytes,
        lambda: PayloadTooLarge(f"An image may be at most {settings.max_upload_bytes} bytes."),
    )
    sink = MemorySink()
    await read_form(request, limits=[too_large], sink=sink, sniff=_sniff_image)
    return bytes(sink.buffer)


IMAGE_BODY = openapi_form("a photo or screenshot of the code")


IMAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {}, "image/svg+xml": {}}, "description": "The QR code"}
}


def image_response(request: Request, image: bytes, kind: ImageKind, *, cache_control: str) -> Response:
    etag = '"' + hashlib.blake2b(image, digest_size=12).hexdigest() + '"'
    headers = {"ETag": etag, "Cache-Control": cache_control, "X-Content-Type-Options": "nosniff"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(image, media_type=MEDIA_TYPES[kind], headers=headers)
