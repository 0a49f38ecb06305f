"""The chat socket, `GET /api/v1/ws/chat`: authentication, limits, frames in and out.

Outgoing frames go through the process's live hub (`app.core.realtime`): every socket has a bounded
queue and its own sender task, so a slow client never holds the others up. Incoming frames are
handled one at a time per socket (acks come back in send order).

Keep-alive: uvicorn sends protocol pings every 20 s and drops a peer that misses the pong for 20 s
(its `ws_ping_interval` / `ws_ping_timeout` defaults); a peer whose TCP window stays shut fills its
queue and is closed by the hub. Close codes: 4401 bad or expired token (or a login that has ended),
4403 deactivated account, 1008 origin refused or frames still sent past the rate limit, 1009 frame
too big, 1013 client too far behind (reconnect and `resume`), 1012 the process lost its listener
connection (reconnect and `resume`).
"""

import asyncio
import contextlib
import json
import logging
import time
from typing import Any
from urllib.parse import urlsplit

from fastapi import WebSocket
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.websockets import WebSocketDisconnect

from app.core import realtime
from app.core.database import unit_of_work
from app.core.errors import AppError
from app.core.security import AccessClaims, InvalidToken, TokenSigner
from app.services.auth import service as auth_service
from app.services.auth.errors import LoginEnded
from app.services.chat import service as chat_service
from app.services.chat.models import MAX_BODY_CHARS
from app.services.chat.schemas import ClientFrame, MessageRead, PingFrame, ReadFrame, ResumeFrame, SendFrame
from app.services.users.models import User

logger = logging.getLogger(__name__)

MAX_FRAME_BYTES = 32 * 1024
AUTH_TIMEOUT_SECONDS = 10.0
# Token bucket per connection: RATE frames a second on average, bursts of BURST; past that each
# frame is answered `rate_limited`, and STRIKES such answers in a row close the connection.
RATE_PER_SECOND = 20.0
BURST = 40.0
STRIKES = 20
RESUME_PAGE = 200

CLOSE_UNAUTHENTICATED = 4401
CLOSE_DISABLED = 4403
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009

_frames: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)


def _dumps(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def error_frame(code: str, detail: str, **extra: Any) -> str:
    return _dumps({"type": "error", "code": code, "detail": detail, **extra})


class ChatSocket(realtime.LiveSocket):
    """A live socket that sends each conversation's messages once and in id order, also while a
    `resume` answer is being sent (live messages of that conversation wait until it is done)."""

    def __init__(self, *, claims: AccessClaims, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.claims = claims
        self.last_sent: dict[str, int] = {}
        self.resuming: dict[str, list[tuple[int, str]]] = {}

    def deliver(self, frame: dict[str, Any], text: str) -> None:
        if frame.get("type") == "message":
            conversation_id, message_id = frame["message"]["conversation_id"], frame["message"]["id"]
            if conversation_id in self.resuming:
                self.resuming[conversation_id].append((message_id, text))
                return
            if message_id <= self.last_sent.get(conversation_id, 0):
                return
            self.last_sent[conversation_id] = message_id
        self.offer(text)

    def finish_resume(self, conversation_id: str, sent_up_to: int) -> None:
        held = self.resuming.pop(conversation_id, [])
        last = max(self.last_sent.get(conversation_id, 0), sent_up_to)
        for message_id, frame_text in held:
            if message_id > last:
                last = message_id
                self.offer(frame_text)
        self.last_sent[conversation_id] = last


class RateLimiter:
    def __init__(self) -> None:
        self.tokens = BURST
        self.at = time.monotonic()
        self.strikes = 0

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(BURST, self.tokens + (now - self.at) * RATE_PER_SECOND)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            self.strikes = 0
            return True
        self.strikes += 1
        return False


def origin_allowed(websocket: WebSocket) -> bool:
    """Browsers send Origin on every handshake; CORS does not cover WebSockets, so check it here.
    Allowed: no Origin (not a browser), a configured CORS origin, or the API's own host."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    if origin in websocket.app.state.settings.cors_origins:
        return True
    return urlsplit(origin).netloc.lower() == websocket.headers.get("host", "").lower()


class Connection:
    def __init__(self, websocket: WebSocket, claims: AccessClaims, user: User) -> None:
        self.websocket = websocket
        self.claims = claims
        self.user = user
        self.sessionmaker: async_sessionmaker[AsyncSession] = websocket.app.state.sessionmaker
        self.socket = ChatSocket(claims=claims, user_id=user.id, send=websocket.send_text, close=self._close)
        self.limiter = RateLimiter()
        self.hub = realtime.get_hub(websocket.app)

    async def _close(self, code: int, reason: str) -> None:
        await self.websocket.close(code=code, reason=reason)

    def reply(self, text: str) -> None:
        self.socket.offer(text)

    async def run(self) -> None:
        hub = self.hub
        hub.auditors.setdefault("chat-logins", audit_logins)
        await hub.register(self.socket)
        sender = asyncio.create_task(self.socket.run_sender())
        receiver = asyncio.create_task(self._receive_loop())
        closed = asyncio.create_task(self.socket.closed.wait())
        try:
            await asyncio.wait({receiver, closed, sender}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (receiver, closed):
                task.cancel()
            self.socket.closed.set()
            # Let queued frames (a close from the hub) go out, then stop the sender.
            await asyncio.sleep(0)
            sender.cancel()
            await asyncio.gather(receiver, closed, sender, return_exceptions=True)
            await hub.unregister(self.socket)

    async def _receive_loop(self) -> None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            raw = message.get("text")
            if raw is None:
                size = len(message.get("bytes") or b"")
                if size > MAX_FRAME_BYTES:
                    self.socket.close_soon(CLOSE_TOO_BIG, "frame too big")
                    return
                self.reply(error_frame("invalid_frame", "Frames are JSON text."))
                continue
            if len(raw) > MAX_FRAME_BYTES // 4 and len(raw.encode("utf-8")) > MAX_FRAME_BYTES:
                self.socket.close_soon(CLOSE_TOO_BIG, "frame too big")
                return
            if not self.limiter.allow():
                if self.limiter.strikes > STRIKES:
                    self.socket.close_soon(CLOSE_POLICY, "rate limit exceeded")
                    return
                self.reply(error_frame("rate_limited", "Too many frames; slow down."))
                continue
            await self._handle(raw)

    async def _handle(self, raw: str) -> None:
        try:
            frame = _frames.validate_json(raw)
        except ValidationError as exc:
            self.reply(error_frame("invalid_frame", _describe(exc)))
            return
        if isinstance(frame, PingFrame):
            self.reply('{"type":"pong"}')
            return
        client_id = frame.client_id if isinstance(frame, SendFrame) else None
        try:
            async with self.hub.db_slots:
                if isinstance(frame, SendFrame):
                    await self._send(frame)
                elif isinstance(frame, ReadFrame):
                    await self._read(frame)
                elif isinstance(frame, ResumeFrame):
                    await self._resume(frame)
        except LoginEnded:
            async with self.sessionmaker() as session:
                code = await _refusal_code(session, self.claims)
            self.socket.close_soon(code, "sign in again")
        except AppError as exc:
            extra = {"client_id": client_id} if client_id is not None else {}
            self.reply(error_frame(exc.code, exc.detail, **extra))
        except Exception:
            logger.exception("chat frame failed")
            self.reply(error_frame("internal_error", "Something went wrong on our side; try again."))

    async def _signed_in(self, session: AsyncSession) -> User:
        """The user, if their login is still open (logout and deactivation end the socket too)."""
        user = await auth_service.get_user_for_access(session, claims=self.claims)
        if user is None:
            raise LoginEnded()
        return user

    async def _send(self, frame: SendFrame) -> None:
        body = frame.body.strip()
        if not body:
            self.reply(error_frame("invalid_frame", "The body is empty.", client_id=frame.client_id))
            return
        if len(body) > MAX_BODY_CHARS:
            self.reply(
                error_frame(
                    "body_too_long", f"A message has at most {MAX_BODY_CHARS} characters.", client_id=frame.client_id
                )
            )
            return
        # One statement in autocommit mode (see chat_service.post); it also re-checks the login, so a
        # frame sent after logout or deactivation closes the socket.
        async with self.sessionmaker() as session:
            await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            message, _ = await chat_service.post(
                session,
                sender=self.user,
                login_session_id=self.claims.session_id,
                conversation_id=frame.conversation_id,
                body=body,
                client_id=frame.client_id,
            )
        ack = chat_service.message_frame(message)
        self.reply(_dumps({"type": "ack", "client_id": frame.client_id, "message": ack["message"]}))

    async def _read(self, frame: ReadFrame) -> None:
        async with unit_of_work(self.sessionmaker) as session:
            await chat_service.mark_read(
                session,
                user=self.user,
                conversation_id=frame.conversation_id,
                last_read_message_id=frame.last_read_message_id,
                login_session_id=self.claims.session_id,
            )

    async def _resume(self, frame: ResumeFrame) -> None:
        key = str(frame.conversation_id)
        cursor = frame.after_id
        self.socket.resuming.setdefault(key, [])
        try:
            while True:
                async with self.sessionmaker() as session:
                    user = await self._signed_in(session)
                    rows, more = await chat_service.get_messages(
                        session, user=user, conversation_id=frame.conversation_id, after_id=cursor, limit=RESUME_PAGE
                    )
                for message in rows:
                    frame_out = chat_service.message_frame(MessageRead.model_validate(message))
                    await self.socket.put(_dumps(frame_out))
                    cursor = message.id
                if not more or self.socket.closed.is_set():
                    break
        finally:
            self.socket.finish_resume(key, cursor)


def _describe(exc: ValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "invalid frame"
    where = ".".join(str(part) for part in errors[0]["loc"])
    return f"{where}: {errors[0]['msg']}" if where else errors[0]["msg"]


async def _refusal_code(session: AsyncSession, claims: AccessClaims) -> int:
    user = await session.get(User, claims.user_id)
    return CLOSE_DISABLED if user is not None and not user.is_active else CLOSE_UNAUTHENTICATED


async def audit_logins(hub: realtime.Hub) -> None:
    """Close this process's chat sockets whose login has ended (logout, revocation: 4401) or whose
    account was deactivated (4403), in one query for all of them; the hub runs it every
    `realtime.AUDIT_SECONDS`, which bounds how long an idle socket outlives its login."""
    sockets = [
        s for group in hub.sockets.values() for s in group if isinstance(s, ChatSocket) and not s.closed.is_set()
    ]
    if not sockets:
        return
    async with hub.engine.connect() as conn:
        states = await auth_service.login_states(conn, (s.claims for s in sockets))
    for socket in sockets:
        state = states[socket.claims]
        if state == auth_service.LoginState.ended:
            socket.close_soon(CLOSE_UNAUTHENTICATED, "sign in again")
        elif state == auth_service.LoginState.disabled:
            socket.close_soon(CLOSE_DISABLED, "account disabled")


async def _first_frame_token(websocket: WebSocket) -> str | None:
    """The token from the first frame, `{"type": "auth", "token": "..."}`."""
    try:
        raw = await asyncio.wait_for(websocket.receive_text(), timeout=AUTH_TIMEOUT_SECONDS)
        frame = json.loads(raw) if len(raw) <= MAX_FRAME_BYTES else None
    except (TimeoutError, ValueError, KeyError, RuntimeError, WebSocketDisconnect):
        return None
    if isinstance(frame, dict) and frame.get("type") == "auth" and isinstance(frame.get("token"), str):
        token: str = frame["token"]
        return token
    return None


async def authenticate(websocket: WebSocket, token: str | None) -> tuple[AccessClaims, User] | int:
    """The claims and user behind the token, or the close code to refuse the socket with."""
    if token is None:
        token = await _first_frame_token(websocket)
        if token is None:
            return CLOSE_UNAUTHENTICATED
    signer: TokenSigner = websocket.app.state.signer
    try:
        claims = signer.verify_access(token)
    except InvalidToken:
        return CLOSE_UNAUTHENTICATED
    sessionmaker: async_sessionmaker[AsyncSession] = websocket.app.state.sessionmaker
    async with sessionmaker() as session:
        user = await auth_service.get_user_for_access(session, claims=claims)
        if user is None:
            return await _refusal_code(session, claims)
    return claims, user


async def serve(websocket: WebSocket, token: str | None) -> None:
    if not origin_allowed(websocket):
        await websocket.close(code=CLOSE_POLICY)  # before accept: the handshake is refused with 403
        return
    await websocket.accept()
    result = await authenticate(websocket, token)
    if isinstance(result, int):
        with contextlib.suppress(Exception):
            await websocket.close(code=result, reason="not authenticated" if result == 4401 else "account disabled")
        return
    claims, user = result
    await Connection(websocket, claims, user).run()
