"""Request values the medical-record routes need besides the clinic gates (`patients.dependencies`)."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request


async def get_request_id(request: Request) -> str | None:
    """The response's `X-Request-ID`, recorded with each read in the access log."""
    request_id: str | None = getattr(request.state, "request_id", None)
    return request_id


async def get_now() -> datetime:
    """The clock that `effective_at` is checked against (tests override it)."""
    return datetime.now(UTC)


RequestId = Annotated[str | None, Depends(get_request_id)]
Now = Annotated[datetime, Depends(get_now)]
