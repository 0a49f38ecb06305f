"""Serving a stored file of the property vertical (a model, an image, a progress photo)."""

from collections.abc import AsyncGenerator, AsyncIterator
from urllib.parse import quote

from fastapi.responses import StreamingResponse

from app.core.errors import NotFound
from app.services.documents.storage import DocumentStorage


class MediaContentMissing(NotFound):
    code = "content_missing"
    default_detail = "The file's content is not available."


async def file_response(
    storage: DocumentStorage, key: str, *, content_type: str, size: int, sha256: str, filename: str, cache: str
) -> StreamingResponse:
    """The file inline, with its own type; opened before the response starts, so a missing file is
    a 404 rather than a body cut short after its headers."""
    chunks = storage.open(key)
    try:
        first = await anext(chunks, b"")
    except FileNotFoundError as exc:
        raise MediaContentMissing() from exc
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_").replace("\\", "_").replace('"', "_")
    headers = {
        "Content-Disposition": f"inline; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}",
        "Content-Length": str(size),
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": cache,
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "ETag": f'"{sha256}"',
    }
    return StreamingResponse(_prepended(first, chunks), media_type=content_type, headers=headers)


async def _prepended(first: bytes, rest: AsyncGenerator[bytes]) -> AsyncIterator[bytes]:
    try:
        yield first
        async for chunk in rest:
            yield chunk
    finally:
        await rest.aclose()  # a client gone mid-download must not leave the file open
