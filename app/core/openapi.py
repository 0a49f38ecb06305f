"""The OpenAPI document as clients need it: the API's conventions, every error response described as
the RFC 9457 problem it is (with an example per stable `code`), and the WebSocket routes, which
OpenAPI cannot describe as operations.

Routes declare their errors as usual, `responses={409: {"description": "`slot_full`, ..."}}`:
each backticked word that is the `code` of an `AppError` subclass becomes an example built from
that class's title and default detail, so the examples cannot drift from the errors themselves.
"""

import inspect
import re
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIWebSocketRoute

from app.core.errors import AppError

DESCRIPTION = """
Book appointments, upload the documents a service needs, check in by QR code, chat with staff, rate
the visit.

**Conventions.** Every endpoint lives under `/api/v1`; JSON in and out, `snake_case` fields, UUID ids
(chat message ids are increasing integers). Times are RFC 3339 with an offset; calendar dates
(`YYYY-MM-DD`) are read in the organization's IANA time zone. Unknown body fields are a 422.

**Sign-in.** `POST /api/v1/auth/login` (or `/auth/register`) answers an access token and a refresh
token. Send `Authorization: Bearer <access_token>`; trade the single-use refresh token for a new pair
at `/auth/refresh`. The **Authorize** button below signs in with the OAuth2 password form.

**Errors** are `application/problem+json` (RFC 9457): `{"type", "title", "status", "detail",
"code"}`; program against `code`, listed with each operation. Validation problems (422) add
`errors: [{"loc", "msg", "type"}]`; a 500 carries the `request_id` that is also in the
`X-Request-ID` header. A resource you may not see answers 404, like one that does not exist.

**Lists** take `?page=` and `?size=` (at most 100) and answer `{"items", "total", "page", "size",
"pages"}`, except free slots, insights series (arrays) and chat messages (`{"items", "has_more"}`).

**Rate limits** answer 429 `rate_limited` with `Retry-After` (seconds).
""".strip()

PROBLEM = {
    "title": "Problem",
    "description": "RFC 9457 problem details.",
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string", "format": "uri", "description": "Identifies the kind of problem"},
        "title": {"type": "string", "description": "Short summary of the kind, for people"},
        "status": {"type": "integer", "description": "The HTTP status"},
        "detail": {"type": "string", "description": "What went wrong this time, for people"},
        "code": {"type": "string", "description": "Stable machine-readable code: program against this"},
        "request_id": {"type": "string", "description": "Only on 500: quote it when reporting the problem"},
        "errors": {
            "type": "array",
            "description": "Only on 422 `validation_error`: each invalid part of the request",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
}
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_BACKTICKED = re.compile(r"`([a-z][a-z0-9_]*)`")
_VALIDATION_EXAMPLE_ERRORS = [{"loc": ["body", "starts_at"], "msg": "Field required", "type": "missing"}]


def error_catalogue() -> dict[str, dict[int, type[AppError]]]:
    """Every `AppError` subclass by code and status (one code may name several classes, e.g. all
    the `not_found`s; the first found stands for its status)."""
    catalogue: dict[str, dict[int, type[AppError]]] = {}
    pending: list[type[AppError]] = [AppError]
    while pending:
        kind = pending.pop(0)
        catalogue.setdefault(kind.code, {}).setdefault(kind.status_code, kind)
        pending.extend(kind.__subclasses__())
    return catalogue


def problem_example(kind: type[AppError]) -> dict[str, Any]:
    value: dict[str, Any] = {
        "type": f"https://queueless.dev/problems/{kind.code.replace('_', '-')}",
        "title": kind.title,
        "status": kind.status_code,
        "detail": kind.default_detail,
        "code": kind.code,
    }
    if kind.code == "validation_error":
        value["errors"] = _VALIDATION_EXAMPLE_ERRORS
    return {"summary": kind.code, "value": value}


def declared_codes(description: str) -> list[str]:
    """The backticked words of a response description, in order."""
    return list(dict.fromkeys(_BACKTICKED.findall(description)))


def _describe_errors(operation: dict[str, Any], catalogue: dict[str, dict[int, type[AppError]]]) -> None:
    responses: dict[str, dict[str, Any]] = operation.setdefault("responses", {})
    if operation.get("security") and "401" not in responses:
        responses["401"] = {"description": "`not_authenticated`: no valid access token, or its login has ended"}
    for status, response in responses.items():
        if not status.startswith("4"):
            continue
        description = response.get("description", "")
        if status == "422" and "validation_error" not in description:
            prefix = "" if description in ("", "Validation Error") else description + "; "
            description = response["description"] = prefix + "`validation_error`: the request is malformed"
        examples = {
            code: problem_example(catalogue[code][int(status)])
            for code in declared_codes(description)
            if int(status) in catalogue.get(code, {})
        }
        response["content"] = {"application/problem+json": {"schema": PROBLEM_REF, "examples": examples}}


def _websocket_routes(routers: Sequence[APIRouter], prefix: str) -> str:
    lines = [
        f"- `{prefix}{route.path}`: {inspect.cleandoc(route.endpoint.__doc__ or '')}"
        for router in routers
        for route in router.routes
        if isinstance(route, APIWebSocketRoute)
    ]
    return "\n\n**WebSockets** (not operations of this document):\n\n" + "\n".join(lines) if lines else ""


def install(app: FastAPI, routers: Sequence[APIRouter], *, prefix: str) -> None:
    """Build `app.openapi()` with the conventions, the problem responses and the WebSocket routes
    of `routers` (included under `prefix`)."""
    build = app.openapi
    websockets = _websocket_routes(routers, prefix)
    done: list[dict[str, Any]] = []  # the schema last completed (FastAPI rebuilds it when routes change)

    def openapi() -> dict[str, Any]:
        schema = build()
        if done and done[0] is schema:
            return schema
        schema["info"]["description"] = DESCRIPTION + websockets
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Problem"] = PROBLEM
        catalogue = error_catalogue()
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                _describe_errors(operation, catalogue)
        # FastAPI's own 422 body is replaced by the problem above.
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        done[:] = [schema]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
