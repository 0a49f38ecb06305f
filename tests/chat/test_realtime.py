"""The live hub (app/core/realtime.py): ordering, slow consumers, big frames, presence, reconnection."""

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import FastAPI
from sqlalchemy import ARRAY, Text, Uuid, bindparam, func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from app.core import prepared, realtime


class Recorder:
    """A socket transport that records what it is sent (optionally never finishing a send)."""

    def __init__(self, *, stuck: bool = False) -> None:
        self.frames: list[tuple[float, str]] = []
        self.closed_with: list[int] = []
        self.stuck = stuck
        self.got = asyncio.Event()

    async def send(self, text_frame: str) -> None:
        if self.stuck:
            await asyncio.Event().wait()  # a client whose TCP window never opens
        self.frames.append((time.perf_counter(), text_frame))
        self.got.set()

    async def close(self, code: int, reason: str) -> None:
        self.closed_with.append(code)


@asynccontextmanager
async def live(app: FastAPI, recorder: Recorder, *, max_frames: int = 512) -> AsyncIterator[realtime.LiveSocket]:
    hub = realtime.get_hub(app)
    socket = realtime.LiveSocket(user_id=uuid.uuid4(), send=recorder.send, close=recorder.close, max_frames=max_frames)
    await hub.register(socket)
    sender = asyncio.create_task(socket.run_sender())
    try:
        yield socket
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        await hub.unregister(socket)


async def wait_for(condition: Any, seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110  (conditions on plain lists and attributes)
            await asyncio.sleep(0.01)


async def test_slow_consumer_is_closed_and_never_delays_a_fast_one(app: FastAPI, session: AsyncSession) -> None:
    fast, slow = Recorder(), Recorder(stuck=True)
    async with live(app, fast) as fast_socket, live(app, slow, max_frames=8) as slow_socket:
        started = time.perf_counter()
        for n in range(50):
            await realtime.send_to_users(
                session, user_ids=[fast_socket.user_id, slow_socket.user_id], frame={"type": "t", "n": n}
            )
        await session.commit()
        await wait_for(lambda: len(fast.frames) == 50)
        assert [frame for _, frame in fast.frames] == [f'{{"type":"t","n":{n}}}' for n in range(50)]
        assert fast.frames[-1][0] - started < 2.0
        await wait_for(lambda: slow.closed_with == [realtime.CLOSE_TOO_SLOW])
        assert slow_socket.closed.is_set()


async def test_nothing_is_sent_when_the_transaction_rolls_back(app: FastAPI, session: AsyncSession) -> None:
    recorder = Recorder()
    async with live(app, recorder) as socket:
        await realtime.send_to_users(session, user_ids=[socket.user_id], frame={"type": "lost"})
        await session.rollback()
        await realtime.send_to_users(session, user_ids=[socket.user_id], frame={"type": "kept"})
        await session.commit()
        await wait_for(lambda: recorder.frames)
        await asyncio.sleep(0.1)
        assert [frame for _, frame in recorder.frames] == ['{"type":"kept"}']


async def test_big_frames_and_long_recipient_lists_fit_notify_payloads(app: FastAPI, session: AsyncSession) -> None:
    recorder = Recorder()
    async with live(app, recorder) as socket:
        big = {"type": "message", "body": "é" * 6000, "n": 1}
        await realtime.send_to_users(session, user_ids=[socket.user_id], frame=big)
        crowd = [uuid.uuid4() for _ in range(500)] + [socket.user_id]
        await realtime.send_to_users(session, user_ids=crowd, frame={"type": "crowd"})
        await session.commit()
        await wait_for(lambda: len(recorder.frames) == 2)
        assert json.loads(recorder.frames[0][1]) == big  # stored as jsonb: same object, keys reordered
        assert recorder.frames[1][1] == '{"type":"crowd"}'


async def test_presence_tells_who_has_an_open_socket(app: FastAPI, session: AsyncSession) -> None:
    recorder = Recorder()
    async with live(app, recorder) as socket:
        assert await realtime.online_user_ids(session, [socket.user_id, uuid.uuid4()]) == {socket.user_id}
        await realtime.get_hub(app).heartbeat()
        assert await realtime.online_user_ids(session, [socket.user_id]) == {socket.user_id}
    await session.rollback()
    assert await realtime.online_user_ids(session, [socket.user_id]) == set()


async def test_lost_listener_reconnects_and_closes_sockets_so_clients_resume(
    app: FastAPI, session: AsyncSession
) -> None:
    hub = realtime.get_hub(app)
    before, after = Recorder(), Recorder()
    async with live(app, before):
        old_pid = hub.listener_pid
        await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": old_pid})
        await session.commit()
        await wait_for(lambda: hub.listener_pid != old_pid and hub.listening.is_set())
        await wait_for(lambda: before.closed_with == [realtime.CLOSE_RECONNECT])
    async with live(app, after) as socket:
        await realtime.send_to_users(session, user_ids=[socket.user_id], frame={"type": "again"})
        await session.commit()
        await wait_for(lambda: after.frames)


def test_asyncpg_dsn_keeps_unix_socket_urls() -> None:
    engine = create_async_engine("postgresql+asyncpg://postgres@/queueless?host=/tmp/pg-sock")
    dsn = urlsplit(realtime.asyncpg_dsn(engine))
    assert (dsn.scheme, dsn.netloc, dsn.path) == ("postgresql", "postgres@", "/queueless")
    assert parse_qs(dsn.query) == {"host": ["/tmp/pg-sock"]}  # asyncpg unquotes it the same way
    engine = create_async_engine("postgresql+asyncpg://u:p%40ss@db.example.org:5433/q")
    assert realtime.asyncpg_dsn(engine) == "postgresql://u:p%40ss@db.example.org:5433/q"


async def test_a_statement_sends_live_frames_by_the_same_rules_as_send_to_users(
    app: FastAPI, session: AsyncSession
) -> None:
    """`sent_live` (one statement: store, then announce) splits long recipient lists and stores big
    frames, as `send_to_users` does; with PostgreSQL's cap, a wrong split fails the statement."""
    recipients = bindparam("recipients", type_=ARRAY(Uuid))
    frame = bindparam("frame", type_=Text)
    source = select(literal(1).label("one")).subquery("source")
    sending = realtime.sent_live(source, recipients=recipients, frame=frame, name="live")
    statement = prepared.Prepared(select(select(func.count()).select_from(sending).scalar_subquery().label("sent")))
    recorder = Recorder()
    async with live(app, recorder) as socket:
        crowd = [uuid.uuid4() for _ in range(500)] + [socket.user_id, socket.user_id]
        big = {"type": "message", "body": "é" * 6000, "n": 1}
        connection = await session.connection()
        for users, sent in ((crowd, {"type": "crowd"}), ([socket.user_id], big)):
            arguments = statement.arguments({"recipients": users, "frame": json.dumps(sent)})
            notifications = (await connection.exec_driver_sql(statement.sql, tuple(arguments))).scalar_one()
            assert notifications == (3 if sent == {"type": "crowd"} else 1)  # 501 ids, 178 a payload
        await session.commit()
        await wait_for(lambda: len(recorder.frames) == 2)
        assert recorder.frames[0][1] == '{"type":"crowd"}'  # once, although named twice
        assert json.loads(recorder.frames[1][1]) == big  # stored as jsonb: same object, keys reordered
