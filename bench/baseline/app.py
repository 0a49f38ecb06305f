"""The baseline: the least a Python server can do for each of the bench's request shapes.

Plain Starlette routes over an asyncpg pool, served by uvicorn on uvloop and httptools, with no
validation layer, no ORM, no middleware and no transaction around a single statement. The project
is measured beside it in the same run (bench/lib/loadrun.py), and the ratio is what we report.

    GET  /json                    a constant body
    GET  /db?id=N                 one slot by primary key (a random one without `id`)
    GET  /slots?service_id=N&from=YYYY-MM-DD
                                  up to 50 free slots of a service in the 15 days from a date
                                  (the "list" shape)
    POST /book {"slot_id", "member_id"}
                                  INSERT ... ON CONFLICT DO NOTHING: 201 with the row, 409 when
                                  the slot is taken, 404 for an unknown slot or member
    WS   /ws                      every text frame is sent to every socket of this process
    WS   /ws/pg                   the same through PostgreSQL NOTIFY, so every process's sockets get it

Environment: BENCH_DSN (or DATABASE_URL), POOL_SIZE (10), N_SLOTS and N_SERVICES (the ranges of
the random ids). Bodies are written by pydantic-core's `to_json` (Rust), already in the project's
environment, so the baseline needs nothing the project does not install.
"""

import asyncio
import contextlib
import json
import os
import random
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar

import asyncpg
from pydantic_core import to_json
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

DSN = os.environ.get("BENCH_DSN") or os.environ.get("DATABASE_URL") or "postgresql://bench@127.0.0.1:5432/postgres"
POOL_SIZE = int(os.environ.get("POOL_SIZE", "10"))
N_SLOTS = int(os.environ.get("N_SLOTS", "1000000"))
N_SERVICES = int(os.environ.get("N_SERVICES", "1000"))
FIRST_DAY = date(2025, 1, 1)
CHANNEL = "bench_baseline"

ONE_SLOT = "SELECT id, service_id, starts_at, ends_at, seats FROM slots WHERE id = $1"
FREE_SLOTS = """
SELECT s.id, s.service_id, s.starts_at, s.ends_at, s.seats
FROM slots s
WHERE s.service_id = $1 AND s.starts_at >= $2 AND s.starts_at < $2 + interval '15 days'
  AND NOT EXISTS (SELECT FROM bookings b WHERE b.slot_id = s.id)
ORDER BY s.starts_at
LIMIT 50
"""
BOOK = """
INSERT INTO bookings (slot_id, member_id) VALUES ($1, $2)
ON CONFLICT (slot_id) DO NOTHING
RETURNING id, slot_id, member_id, status, created_at
"""


class State:
    pool: ClassVar[asyncpg.Pool]
    listener: ClassVar[asyncpg.Connection | None] = None
    sockets: ClassVar[set[WebSocket]] = set()


def reply(body: Any, status: int = 200) -> Response:
    return Response(to_json(body), status_code=status, media_type="application/json")


async def constant(request: Request) -> Response:
    return reply({"message": "Hello, World!"})


async def one_slot(request: Request) -> Response:
    raw = request.query_params.get("id")
    slot_id = int(raw) if raw else random.randint(1, N_SLOTS)
    async with State.pool.acquire() as conn:
        row = await conn.fetchrow(ONE_SLOT, slot_id)
    return reply(dict(row)) if row else reply({"detail": "no such slot"}, 404)


async def free_slots(request: Request) -> Response:
    query = request.query_params
    service_id = int(query["service_id"]) if "service_id" in query else random.randint(1, N_SERVICES)
    day = date.fromisoformat(query["from"]) if "from" in query else FIRST_DAY + timedelta(random.randint(0, 150))
    async with State.pool.acquire() as conn:
        rows = await conn.fetch(FREE_SLOTS, service_id, datetime(day.year, day.month, day.day, tzinfo=UTC))
    return reply([dict(row) for row in rows])


async def book(request: Request) -> Response:
    try:
        body = json.loads(await request.body())
        slot_id, member_id = int(body["slot_id"]), int(body["member_id"])
    except (ValueError, KeyError, TypeError):
        return reply({"detail": "slot_id and member_id are required integers"}, 422)
    try:
        async with State.pool.acquire() as conn:
            row = await conn.fetchrow(BOOK, slot_id, member_id)
    except asyncpg.ForeignKeyViolationError:
        return reply({"detail": "no such slot or member"}, 404)
    return reply(dict(row), 201) if row else reply({"detail": "slot taken"}, 409)


async def send_to_all(text: str) -> None:
    for socket in list(State.sockets):
        try:
            await socket.send_text(text)
        except Exception:  # the client left while we were sending
            State.sockets.discard(socket)


def on_notify(connection: Any, pid: int, channel: str, payload: str) -> None:
    asyncio.get_running_loop().create_task(send_to_all(payload))


async def serve_socket(websocket: WebSocket, *, through_postgres: bool) -> None:
    await websocket.accept()
    State.sockets.add(websocket)
    try:
        while True:
            text = await websocket.receive_text()
            if through_postgres:
                async with State.pool.acquire() as conn:
                    await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, text)
            else:
                await send_to_all(text)
    except WebSocketDisconnect:
        pass
    finally:
        State.sockets.discard(websocket)


async def local_socket(websocket: WebSocket) -> None:
    await serve_socket(websocket, through_postgres=False)


async def postgres_socket(websocket: WebSocket) -> None:
    await serve_socket(websocket, through_postgres=True)


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    State.pool = await asyncpg.create_pool(DSN, min_size=POOL_SIZE, max_size=POOL_SIZE)
    State.listener = await asyncpg.connect(DSN)  # LISTEN holds a connection of its own
    await State.listener.add_listener(CHANNEL, on_notify)
    try:
        yield
    finally:
        await State.listener.close()
        await State.pool.close()


app = Starlette(
    routes=[
        Route("/json", constant),
        Route("/db", one_slot),
        Route("/slots", free_slots),
        Route("/book", book, methods=["POST"]),
        WebSocketRoute("/ws", local_socket),
        WebSocketRoute("/ws/pg", postgres_socket),
    ],
    lifespan=lifespan,
)
