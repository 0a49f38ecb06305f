"""The project's own SQL with no framework: the floor for the booking, the read by id and the list.

The baseline (bench/baseline/app.py) does less database work than the project: its `book` is one
`INSERT … ON CONFLICT`, its `db` one row. This app sends PostgreSQL exactly the statements the
project's hot paths send (imported from the project, so they cannot drift), from plain Starlette
and asyncpg on uvloop and httptools, as the baseline is built (but with no reset query when
a connection goes back to the pool: `keep_session`). Measured beside the project and the baseline
(`bench/same_sql.sh`), it tells what the SQL itself allows against the baseline, and what the
project adds above its SQL: FastAPI, validation, the checks in Python, the pool, the notification
it renders, its background workers.

What it leaves out, so it is a floor and never a stand-in: the token's signature is not verified
(its claims are read), the slot is not checked against the service's hours, and the booking's
notification, e-mail and live frame are rendered once, by the project's own code, for a sample
booking (`SAMPLE`): every request sends texts of the project's lengths without rendering them.

Routes (the project's paths): GET /api/v1/appointments/{id}, GET /api/v1/appointments?page=&size=,
POST /api/v1/appointments. Environment: DATABASE_URL (asyncpg form), POOL_SIZE (40, the project's
default).
"""

import base64
import contextlib
import datetime as dt
import json
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.core.schemas import page_response
from app.services.appointments import announcements, booking
from app.services.appointments import service as appointments
from app.services.appointments.service import new_reference
from app.services.notifications import service as notifications

DSN = os.environ["DATABASE_URL"].replace("postgresql+asyncpg://", "postgresql://")
POOL_SIZE = int(os.environ.get("POOL_SIZE", "40"))
BY_ID = appointments._BY_ID
PAGE = appointments._own_page(by_status=False, from_day=False, to_day=False)
READ, WRITE = booking._READ, booking._WRITE
pool: asyncpg.Pool


def _sample_announcement() -> dict[str, Any]:
    """The notification parameters of a typical booking, as `booking.book` builds them."""
    citizen = notifications.Recipient(user_id=uuid.uuid4(), full_name="Ada Citizen")
    appointment = booking._NewAppointment(
        id=uuid.uuid4(),
        reference=new_reference(),
        service_id=uuid.uuid4(),
        organization_id=uuid.uuid4(),
        citizen_id=citizen.user_id,
        starts_at=dt.datetime(2027, 3, 8, 10, tzinfo=dt.UTC),
    )
    message = announcements.appointment_message(
        "appointment_booked",
        appointment=appointment,
        service_name="Passport renewal",
        organization_name="Service point 42",
        timezone="Europe/Berlin",
        actor_id=citizen.user_id,
    )
    return notifications.announcement_values(message, recipient=citizen)


SAMPLE = _sample_announcement()


def claims(request: Request) -> tuple[uuid.UUID, uuid.UUID]:
    """(session id, user id) from the bearer token's payload, unverified."""
    payload = request.headers["authorization"].split(".")[1]
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return uuid.UUID(data["sid"]), uuid.UUID(data["sub"])


def json_text(body: str | bytes, status_code: int = 200) -> Response:
    return Response(body, status_code=status_code, media_type="application/json")


def problem(status_code: int, code: str) -> Response:
    return json_text(json.dumps({"status": status_code, "code": code}), status_code)


async def by_id(request: Request) -> Response:
    session_id, user_id = claims(request)
    appointment_id = uuid.UUID(request.path_params["appointment_id"])
    args = BY_ID.arguments({"appointment_id": appointment_id, "session_id": session_id, "user_id": user_id})
    row = await pool.fetchrow(BY_ID.sql, *args)
    if row is None or row["body"] is None:
        return problem(404, "not_found")
    return json_text(row["body"])


async def page(request: Request) -> Response:
    session_id, user_id = claims(request)
    number, size = int(request.query_params.get("page", 1)), int(request.query_params.get("size", 20))
    args = PAGE.arguments(
        {"offset": (number - 1) * size, "limit": size, "session_id": session_id, "user_id": user_id}
        | {"status": None, "first": None, "last": None}
    )
    row = await pool.fetchrow(PAGE.sql, *args)
    if row is None:
        return problem(401, "login_ended")
    return page_response(row["items"] or "", total=row["total"], page=number, size=size)


async def book(request: Request) -> Response:
    session_id, user_id = claims(request)
    data = json.loads(await request.body())
    service_id = uuid.UUID(data["service_id"])
    starts_at = dt.datetime.fromisoformat(data["starts_at"])
    day = starts_at.date()
    read = {"session_id": session_id, "user_id": user_id, "service_id": service_id}
    read |= {"first": day - dt.timedelta(days=1), "last": day + dt.timedelta(days=1)}
    async with pool.acquire() as connection:
        service = await connection.fetchrow(READ.sql, *READ.arguments(read))
        if service is None or service["organization_id"] is None:
            return problem(404, "not_found")
        write: dict[str, Any] = SAMPLE | {
            "new_id": uuid.uuid4(),
            "new_reference": new_reference(),
            "new_service_id": service_id,
            "new_organization_id": service["organization_id"],
            "new_citizen_id": user_id,
            "new_starts_at": starts_at,
            "new_ends_at": starts_at + dt.timedelta(minutes=service["duration_minutes"]),
            "new_notes": data.get("notes"),
            "new_capacity": service["capacity"],
            "notification_id": uuid.uuid4(),
            "notification_user_id": user_id,
            "notification_created_at": dt.datetime.now(dt.UTC),
        }
        try:
            row = await connection.fetchrow(WRITE.sql, *WRITE.arguments(write))
        except asyncpg.ExclusionViolationError:
            return problem(409, "overlapping_appointment")
    if row is None:
        return problem(409, "slot_full")
    body = {key: value for key, value in row.items() if key != "announced"}
    body["requirements"] = json.loads(service["requirements"])
    return json_text(json.dumps(body, default=_jsonable), 201)


def _jsonable(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.datetime) else str(value)


async def keep_session(_: asyncpg.Connection) -> None:
    """Give connections back as they are. asyncpg's default reset is a query (`RESET ALL`,
    `UNLISTEN *`, ...) on every release, a round trip the project's pool does not make; these
    statements change no session state, so the floor goes without it."""


@contextlib.asynccontextmanager
async def lifespan(_: Starlette) -> AsyncIterator[None]:
    global pool
    pool = await asyncpg.create_pool(DSN, min_size=POOL_SIZE, max_size=POOL_SIZE, reset=keep_session)
    yield
    await pool.close()


async def health(_: Request) -> Response:
    return json_text('{"status":"ok"}')


app = Starlette(
    routes=[
        Route("/health", health),
        Route("/api/v1/appointments/{appointment_id}", by_id),
        Route("/api/v1/appointments", page, methods=["GET"]),
        Route("/api/v1/appointments", book, methods=["POST"]),
    ],
    lifespan=lifespan,
)
