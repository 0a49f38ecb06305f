"""The live hub: JSON frames to users' open sockets, on every server process, through PostgreSQL.

Features call `send_to_users(session, user_ids=..., frame=...)` inside their transaction. It runs
`SELECT pg_notify(...)`, which PostgreSQL delivers only when (and if) the transaction commits, to
every listening connection, in commit order. Each server process keeps one dedicated LISTEN
connection (`listener`, a BackgroundService) and hands every frame to the local sockets of the
users it names. Payloads stay under PostgreSQL's 8,000-byte cap: long recipient lists are split into
several notifications, and a frame too big to travel inline is stored in `realtime_frames` (in the
same transaction) and read back by id on each process.

A socket is a `LiveSocket`: a bounded queue drained by its own task, so a slow client never delays
the others; a client that falls too far behind (its queue full, or one frame waiting SEND_STALL_SECONDS for it
to read) is closed (code 1013) and recovers by resuming.

Presence (`online_user_ids`) is a small table of (process, user) rows, refreshed by every process's
heartbeat and ignored once stale, so a crashed process cannot keep users "online" for long.

This module knows no feature: frames are opaque dicts.
"""

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import asyncpg
from fastapi import FastAPI
from sqlalchemy import (
    CTE,
    BigInteger,
    ColumnElement,
    DateTime,
    FromClause,
    Identity,
    Index,
    Text,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    select,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB, aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.core import metrics
from app.core.database import Base

logger = logging.getLogger(__name__)

CHANNEL = "queueless_live"
# PostgreSQL refuses payloads of 8,000 bytes or more; stay well below.
MAX_PAYLOAD_BYTES = 7000
HEARTBEAT_SECONDS = 20.0
PRESENCE_TTL_SECONDS = 75
STORED_FRAME_TTL_SECONDS = 600
LISTENER_CHECK_SECONDS = 10.0
RECONNECT_MAX_SECONDS = 10.0
# A socket whose client lags this many frames behind is closed; it resumes when it reconnects.
SEND_QUEUE_FRAMES = 512
# ... and so is one whose client has not taken a frame for this long: it does not read (the frame
# waits for its TCP window). Below the WebSocket keep-alive (a ping every 20 s, 20 s for the pong),
# so such a client is closed by this rule (1013, resume) rather than as a dead peer (1011).
SEND_STALL_SECONDS = 15.0
# Auditors (e.g. "is this socket's login still open?") run this often over all local sockets.
AUDIT_SECONDS = 15.0
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_TOO_SLOW = CLOSE_TRY_AGAIN_LATER  # a client too far behind reconnects later
CLOSE_RECONNECT = 1012  # "service restart": the listener was lost, frames may have been missed


class Presence(Base):
    """A user with at least one open socket on a server process (refreshed by its heartbeat)."""

    __tablename__ = "realtime_presence"
    __table_args__ = (Index("ix_realtime_presence_user_id_seen_at", "user_id", "seen_at"),)

    process_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class StoredFrame(Base):
    """A frame too big for a NOTIFY payload; the notification carries its id. Deleted after minutes."""

    __tablename__ = "realtime_frames"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    frame: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), index=True)


_NOTIFY = text(f"SELECT pg_notify('{CHANNEL}', :payload)")
_PRESENCE_TTL: ColumnElement[Any] = literal_column(f"interval '{PRESENCE_TTL_SECONDS} seconds'")


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def _chunks(user_ids: list[str], *, overhead: int) -> Iterable[list[str]]:
    """Split the recipients so that each payload (overhead + ids) fits MAX_PAYLOAD_BYTES."""
    per_id = 39  # a quoted uuid and a comma
    size = max(1, (MAX_PAYLOAD_BYTES - overhead) // per_id)
    for start in range(0, len(user_ids), size):
        yield user_ids[start : start + size]


async def send_to_users(session: AsyncSession, *, user_ids: Sequence[uuid.UUID], frame: dict[str, Any]) -> None:
    """Deliver `frame` to every open socket of `user_ids`, on every process, once the session commits.

    Nothing is sent if the transaction rolls back. Frames of one transaction arrive in call order,
    and transactions' frames in commit order.
    """
    recipients = sorted({str(user_id) for user_id in user_ids})
    if not recipients:
        return
    inline = _dumps(frame)
    if len(inline.encode("utf-8")) + 40 * min(len(recipients), 20) > MAX_PAYLOAD_BYTES:
        frame_id = await session.scalar(insert(StoredFrame).values(frame=frame).returning(StoredFrame.id))
        body = f'"r":{frame_id}'
    else:
        body = f'"f":{inline}'
    connection = await session.connection()
    for chunk in _chunks(recipients, overhead=len(body.encode("utf-8")) + 16):
        payload = '{"u":' + _dumps(chunk) + "," + body + "}"
        await connection.execute(_NOTIFY, {"payload": payload})


def payload_for(user_id: uuid.UUID, frame: dict[str, Any]) -> str:
    """The NOTIFY payload that sends `frame` to one user's sockets, for a statement that stores
    something and announces it in the same round trip (`pg_notify(CHANNEL, payload)`). Raises
    ValueError for a frame too big to travel inline (use `send_to_users`)."""
    payload = '{"u":' + _dumps([str(user_id)]) + ',"f":' + _dumps(frame) + "}"
    if len(payload.encode("utf-8")) > MAX_PAYLOAD_BYTES:
        raise ValueError("frame too big for one NOTIFY payload")
    return payload


def sent_live(source: FromClause, *, recipients: ColumnElement[Any], frame: ColumnElement[str], name: str) -> CTE:
    """A CTE that sends `frame` (its JSON as text) to the users of `recipients` (an array of their
    ids), once the transaction commits, for a statement that stores something and announces it in
    the same round trip; `source` gives the row (at most one) they are computed from.

    `send_to_users` in SQL, with its rules: the frame travels inline when it fits a payload beside
    the recipients, else it is stored in `realtime_frames` and the payload names it; the recipients
    are split over as many notifications as their ids need. Nothing is sent unless the statement
    reads the CTE (`select(func.count()).select_from(cte)`).
    """
    live = select(frame.label("frame"), recipients.label("recipients")).select_from(source).cte(f"{name}_frame")
    too_big = func.octet_length(live.c.frame) + 40 * func.least(func.cardinality(live.c.recipients), 20)
    stored = (
        insert(StoredFrame)
        .from_select(["frame"], select(cast(live.c.frame, JSONB)).where(too_big > MAX_PAYLOAD_BYTES))
        .returning(StoredFrame.id)
        .cte(f"{name}_stored")
    )
    body = func.coalesce(literal('"r":') + cast(stored.c.id, Text), literal('"f":') + live.c.frame)
    member = func.unnest(live.c.recipients).table_valued("user_id").render_derived(name=f"{name}_member")
    numbered = (
        select(
            body.label("body"),
            member.c.user_id,
            (func.row_number().over(order_by=member.c.user_id) - 1).label("n"),
        )
        .select_from(live.outerjoin(stored, true()).join(member, true()))
        .group_by(live.c.frame, stored.c.id, member.c.user_id)
        .cte(f"{name}_recipient")
    )
    per_payload = func.greatest(1, (MAX_PAYLOAD_BYTES - func.octet_length(numbered.c.body) - 16) // 39)
    chunks = (
        select(
            numbered.c.body,
            func.array_to_json(func.array_agg(aggregate_order_by(numbered.c.user_id, numbered.c.user_id))).label("ids"),
        )
        .group_by(numbered.c.body, numbered.c.n // per_payload)
        .subquery(f"{name}_chunk")
    )
    payload = literal('{"u":') + cast(chunks.c.ids, Text) + literal(",") + chunks.c.body + literal("}")
    return select(func.pg_notify(CHANNEL, payload).label("sent")).select_from(chunks).cte(name)


def online(user_id: Any) -> ColumnElement[bool]:
    """`user_id` (a value or a column) has an open socket on some live server process."""
    return (
        exists()
        .where(Presence.user_id == user_id, Presence.seen_at > func.now() - _PRESENCE_TTL)
        .correlate_except(Presence)
    )


async def online_user_ids(session: AsyncSession, user_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Those of `user_ids` with an open socket on any live server process."""
    if not user_ids:
        return set()
    rows = await session.scalars(
        select(Presence.user_id)
        .where(
            Presence.user_id.in_(list(set(user_ids))),
            Presence.seen_at > func.now() - _PRESENCE_TTL,
        )
        .distinct()
    )
    return set(rows)


class LiveSocket:
    """One open socket's outgoing side: a bounded queue drained by `run_sender`.

    `send` is the transport's coroutine (e.g. `websocket.send_text`), `close` closes it with a code.
    Subclasses may override `deliver` to filter or reorder frames (a feature's resume logic).
    """

    def __init__(
        self,
        *,
        user_id: uuid.UUID,
        send: Callable[[str], Any],
        close: Callable[[int, str], Any],
        max_frames: int = SEND_QUEUE_FRAMES,
        stall_seconds: float | None = None,
    ) -> None:
        self.user_id = user_id
        self._send = send
        self._close = close
        self._queue: asyncio.Queue[str] = asyncio.Queue(max_frames)
        self._max_frames = max_frames
        self._stall_seconds = SEND_STALL_SECONDS if stall_seconds is None else stall_seconds
        self._drained = asyncio.Event()
        self.closed = asyncio.Event()
        self._close_task: asyncio.Task[None] | None = None

    def deliver(self, frame: dict[str, Any], text: str) -> None:
        """A frame from the hub (already serialised as `text`)."""
        self.offer(text)

    def offer(self, text: str) -> None:
        """Queue a frame without waiting; a client that lags too far behind is closed."""
        if self.closed.is_set():
            return
        try:
            self._queue.put_nowait(text)
        except asyncio.QueueFull:
            self.close_soon(CLOSE_TOO_SLOW, "too far behind; reconnect and resume")

    async def put(self, text: str) -> None:
        """Queue a frame the client asked for (a resume page), waiting while the queue is half full,
        so that a long answer never crowds out live frames."""
        while self._queue.qsize() >= self._max_frames // 2 and not self.closed.is_set():
            self._drained.clear()
            await self._drained.wait()
        self.offer(text)

    def close_soon(self, code: int, reason: str) -> None:
        """Close without waiting (safe from the hub's dispatch path)."""
        if self.closed.is_set():
            return
        self.closed.set()
        self._drained.set()
        self._close_task = asyncio.get_running_loop().create_task(self._do_close(code, reason))

    async def _do_close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._close(code, reason), timeout=5)

    async def run_sender(self) -> None:
        """Send queued frames until the socket closes or the transport fails."""
        while not self.closed.is_set():
            text = await self._queue.get()
            if self._queue.qsize() < self._max_frames // 2:
                self._drained.set()
            try:
                await asyncio.wait_for(self._send(text), self._stall_seconds)
            except TimeoutError:
                self.close_soon(CLOSE_TOO_SLOW, "too far behind; reconnect and resume")
                return
            except Exception:
                self.closed.set()
                self._drained.set()
                return


class Hub:
    """This process's open sockets by user, and its presence rows.

    `db_slots` bounds the database work that sockets' incoming frames run at once on this process
    (below the pool size, so that a burst queues here in order instead of timing out on the pool
    and starving HTTP requests). `auditors` are run every AUDIT_SECONDS by the live service, each
    over all local sockets (one query per process, not one per socket or per frame).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        pool_size = getattr(engine.pool, "size", lambda: 10)()
        self.db_slots = asyncio.Semaphore(max(2, pool_size - 4))
        self.auditors: dict[str, Callable[[Hub], Awaitable[None]]] = {}
        self.process_id = uuid.uuid4()
        self.sockets: dict[uuid.UUID, set[LiveSocket]] = {}
        self._presence_locks: dict[uuid.UUID, asyncio.Lock] = {}
        self.incoming: asyncio.Queue[str] = asyncio.Queue()
        self.listening = asyncio.Event()
        self.listener_pid: int | None = None

    # -- sockets -------------------------------------------------------------------------------

    async def register(self, socket: LiveSocket) -> None:
        sockets = self.sockets.setdefault(socket.user_id, set())
        if socket not in sockets:
            metrics.WEBSOCKETS.inc()
        sockets.add(socket)
        if len(sockets) == 1:
            await self._sync_presence(socket.user_id)

    async def unregister(self, socket: LiveSocket) -> None:
        sockets = self.sockets.get(socket.user_id)
        if sockets is None or socket not in sockets:
            return
        metrics.WEBSOCKETS.dec()
        sockets.discard(socket)
        if not sockets:
            del self.sockets[socket.user_id]
            await self._sync_presence(socket.user_id)

    async def _sync_presence(self, user_id: uuid.UUID) -> None:
        """Write whether the user has a socket here now (serialised per user, so the last state wins)."""
        lock = self._presence_locks.setdefault(user_id, asyncio.Lock())
        try:
            async with lock, self.engine.begin() as conn:
                if user_id in self.sockets:
                    await conn.execute(
                        text(
                            "INSERT INTO realtime_presence (process_id, user_id, seen_at) VALUES (:p, :u, now()) "
                            "ON CONFLICT (process_id, user_id) DO UPDATE SET seen_at = now()"
                        ),
                        {"p": self.process_id, "u": user_id},
                    )
                else:
                    await conn.execute(
                        delete(Presence).where(Presence.process_id == self.process_id, Presence.user_id == user_id)
                    )
        except Exception:
            logger.warning("presence update failed", exc_info=True)
        finally:
            if not lock.locked() and user_id not in self.sockets:
                self._presence_locks.pop(user_id, None)

    async def heartbeat(self) -> None:
        """Refresh this process's presence rows (re-creating lost ones) and expire stale rows."""
        users = list(self.sockets)
        async with self.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO realtime_presence (process_id, user_id, seen_at) "
                    "SELECT :p, u, now() FROM unnest(CAST(:users AS uuid[])) AS u "
                    "ON CONFLICT (process_id, user_id) DO UPDATE SET seen_at = now()"
                ),
                {"p": self.process_id, "users": users},
            )
            await conn.execute(
                delete(Presence).where(
                    (Presence.seen_at < func.now() - text(f"interval '{PRESENCE_TTL_SECONDS} seconds'"))
                    | ((Presence.process_id == self.process_id) & Presence.user_id.not_in(users))
                )
            )
            await conn.execute(
                delete(StoredFrame).where(
                    StoredFrame.created_at < func.now() - text(f"interval '{STORED_FRAME_TTL_SECONDS} seconds'")
                )
            )

    async def forget_process(self) -> None:
        with contextlib.suppress(Exception):
            async with self.engine.begin() as conn:
                await conn.execute(delete(Presence).where(Presence.process_id == self.process_id))

    def close_all(self, code: int, reason: str) -> None:
        for sockets in list(self.sockets.values()):
            for socket in list(sockets):
                socket.close_soon(code, reason)

    # -- incoming notifications ----------------------------------------------------------------

    def on_notify(self, connection: object, pid: int, channel: str, payload: str) -> None:
        # asyncpg calls this in arrival (= commit) order; one dispatcher keeps that order.
        self.incoming.put_nowait(payload)

    async def dispatch_forever(self) -> None:
        while True:
            payload = await self.incoming.get()
            try:
                await self.dispatch(payload)
            except Exception:
                logger.exception("could not dispatch a live frame")

    async def dispatch(self, payload: str) -> None:
        message = json.loads(payload)
        local = [self.sockets[u] for u in map(uuid.UUID, message["u"]) if u in self.sockets]
        if not local:
            return
        frame = message.get("f")
        if frame is None:
            async with self.engine.connect() as conn:
                frame = await conn.scalar(select(StoredFrame.frame).where(StoredFrame.id == message["r"]))
            if frame is None:
                return
        text_frame = _dumps(frame)
        for sockets in local:
            for socket in list(sockets):
                socket.deliver(frame, text_frame)


def asyncpg_dsn(engine: AsyncEngine) -> str:
    """The engine's URL for `asyncpg.connect` (also a unix-socket one: `...@/db?host=/path`)."""
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


async def _listen(hub: Hub, dsn: str) -> None:
    """Keep one LISTEN connection open; after a loss, reconnect and close the local sockets so that
    their clients reconnect and resume what they missed meanwhile."""
    delay = 0.2
    first = True
    while True:
        conn: asyncpg.Connection | None = None
        try:
            conn = await asyncpg.connect(dsn, server_settings={"application_name": "queueless-listener"})
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
            await conn.add_listener(CHANNEL, hub.on_notify)
            hub.listener_pid = conn.get_server_pid()
            hub.listening.set()
            if not first:
                logger.warning("live listener reconnected; closing sockets so that clients resume")
                hub.close_all(CLOSE_RECONNECT, "reconnect and resume")
            first, delay = False, 0.2
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), timeout=LISTENER_CHECK_SECONDS)
                if not lost.is_set():
                    await asyncio.wait_for(conn.execute("SELECT 1"), timeout=LISTENER_CHECK_SECONDS)
            logger.warning("live listener connection lost")
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("live listener failed; reconnecting", exc_info=True)
        finally:
            hub.listening.clear()
            if conn is not None and not conn.is_closed():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), timeout=2)
        first = False
        await asyncio.sleep(delay)
        delay = min(delay * 2, RECONNECT_MAX_SECONDS)


async def _heartbeat_forever(hub: Hub) -> None:
    while True:
        try:
            await hub.heartbeat()
        except Exception:
            logger.warning("presence heartbeat failed", exc_info=True)
        await asyncio.sleep(HEARTBEAT_SECONDS)


async def _audit_forever(hub: Hub) -> None:
    while True:
        await asyncio.sleep(AUDIT_SECONDS)
        for name, auditor in list(hub.auditors.items()):
            try:
                await auditor(hub)
            except Exception:
                logger.warning("socket audit %s failed", name, exc_info=True)


def get_hub(app: FastAPI) -> Hub:
    hub: Hub = app.state.realtime
    return hub


@asynccontextmanager
async def live_service(app: FastAPI) -> AsyncIterator[None]:
    """BackgroundService: the process's hub, its LISTEN connection, dispatcher and heartbeat."""
    engine: AsyncEngine = app.state.engine
    hub = Hub(engine)
    app.state.realtime = hub
    tasks = [
        asyncio.create_task(_listen(hub, asyncpg_dsn(engine)), name="realtime-listener"),
        asyncio.create_task(hub.dispatch_forever(), name="realtime-dispatch"),
        asyncio.create_task(_heartbeat_forever(hub), name="realtime-heartbeat"),
        asyncio.create_task(_audit_forever(hub), name="realtime-audit"),
    ]
    # Start serving once frames can arrive (a slow database only delays this, it never blocks startup).
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(hub.listening.wait(), timeout=10)
    try:
        yield
    finally:
        hub.close_all(1001, "server shutting down")
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await hub.forget_process()
