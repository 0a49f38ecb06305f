"""A bound on the request bodies the app reads whole: JSON and forms.

FastAPI reads such a body completely before it validates it: fifty megabytes of JSON were fifty
megabytes of memory per request, and seconds of the event loop to parse. Here the body is counted
while it arrives: a `Content-Length` over the limit is refused before any of it is read, a chunked
body as soon as its running total passes the limit. The refusal is a 413 problem (rendered by the
app's handler for HTTP errors) with `Connection: close`, so the rest of a large body is not read.

Uploads stream their bodies to disk and bound them themselves (`MAX_UPLOAD_BYTES`); their content
types (multipart, images, documents) are not limited here.
"""

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Bodies FastAPI buffers and parses: JSON (also when no type is given) and urlencoded forms.
_BUFFERED_TYPES = (b"application/json", b"application/x-www-form-urlencoded")


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(
            status_code=413,
            detail=f"A request body of this type may be at most {limit} bytes.",
            headers={"Connection": "close"},
        )


def _is_buffered(content_type: bytes | None) -> bool:
    if not content_type:
        return True
    media_type = content_type.split(b";", 1)[0].strip().lower()
    return media_type in _BUFFERED_TYPES or media_type.endswith(b"+json")


class JsonBodyLimitMiddleware:
    """Refuse JSON and form bodies over `max_bytes` while they arrive (413)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        content_type: bytes | None = None
        declared: int | None = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value
            elif name == b"content-length" and value.isdigit():
                declared = int(value)
        if not _is_buffered(content_type):
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        received = 0

        async def receive_bounded() -> Message:
            nonlocal received
            if declared is not None and declared > limit:
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, receive_bounded, send)
