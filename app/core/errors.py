"""Application errors. Each carries its HTTP status and a stable machine-readable `code`.

Services raise these (they know nothing of HTTP beyond this mapping); `app/core/api.py` renders
them as RFC 9457 problem details.
"""

from typing import Any, ClassVar


class AppError(Exception):
    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"
    default_detail: ClassVar[str] = "The request cannot be processed."
    # True when the work the request did before failing must still be committed (a failed
    # login's counter, the revocation that a reused refresh token causes).
    commit_changes: ClassVar[bool] = False

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        self.detail = detail or self.default_detail
        self.headers = headers or {}
        # The parts of the request at fault, as the `errors` member of a 422 problem.
        self.errors = errors
        super().__init__(self.detail)


class NotAuthenticated(AppError):
    status_code = 401
    code = "not_authenticated"
    title = "Not authenticated"
    default_detail = "A valid access token is required."

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class PermissionDenied(AppError):
    status_code = 403
    code = "forbidden"
    title = "Forbidden"
    default_detail = "You are not allowed to do this."


class NotFound(AppError):
    status_code = 404
    code = "not_found"
    title = "Not found"
    default_detail = "The resource does not exist."


class Conflict(AppError):
    status_code = 409
    code = "conflict"
    title = "Conflict"
    default_detail = "The request conflicts with the current state of the resource."


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"
    title = "Payload too large"
    default_detail = "The request body is too large."


class UnsupportedMediaType(AppError):
    status_code = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"
    default_detail = "This type of content is not accepted."


class InvalidInput(AppError):
    status_code = 422
    code = "validation_error"
    title = "Invalid input"
    default_detail = "The request is not valid."


class InvalidRange(InvalidInput):
    """A range whose end comes before its start (dates, times); each feature says which."""

    code = "invalid_range"
    title = "Invalid range"
    default_detail = "The range ends before it starts."


class RateLimited(AppError):
    status_code = 429
    code = "rate_limited"
    title = "Too many requests"
    default_detail = "Too many attempts; try again later."

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})
        self.retry_after = max(1, retry_after)


class ServiceUnavailable(AppError):
    status_code = 503
    code = "service_unavailable"
    title = "Service unavailable"
    default_detail = "The service cannot answer right now; try again shortly."

    def __init__(self, detail: str | None = None, *, retry_after: int = 5) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})


class DatabaseUnavailable(ServiceUnavailable):
    """The database cannot be reached (stopped, restarting, unreachable): nothing was changed."""

    code = "database_unavailable"
    title = "Database unavailable"
    default_detail = "The database cannot be reached right now; nothing was changed. Try again shortly."
