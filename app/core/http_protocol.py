"""uvicorn's HTTP protocol, writing each response to the socket once instead of twice.

uvicorn writes a response's status line and headers, then its body, as two `transport.write`
calls; asyncio sends each at once (`TCP_NODELAY`), so every small response costs two `send`
system calls and two TCP segments for the client to read. Here writes made in one turn of the
event loop are joined and sent at the end of it: a response's head and body leave together. On
a copy of the bench database, reading an appointment by id went from 1,879-2,287 to 2,191-2,434
requests a second (alternated, `wrk -c64`), at 6-12 % less server CPU a request.

Large writes are not held: once 64 KiB wait, they are sent at once, so a big download still
meets the transport's flow control as it did. A connection upgraded to a WebSocket gets the
plain transport.

The protocol also bounds what one client can hold (uvicorn bounds none of it with httptools):
a request's head (request line and headers) is limited in bytes and in header count (431), must
arrive within a timeout (408), and a process keeps at most so many connections open (503); see
`ConnectionLimits` and README "Production".
"""

import asyncio
import functools
import resource
import time
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.core.settings import Settings, get_settings

FLUSH_AT_BYTES = 64 * 1024


class JoinedWrites:
    """A transport whose writes of one event-loop turn reach the socket as one write."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._loop = asyncio.get_running_loop()

    def write(self, data: bytes) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            # Refused here, inside the caller's `send`, as asyncio's transport would: joined later,
            # it would fail in the flush and leave the connection stuck.
            raise TypeError(f"data argument must be a bytes-like object, not {type(data).__name__!r}")
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)
        self._pending_bytes += len(data)
        if self._pending_bytes >= FLUSH_AT_BYTES:
            self.flush()

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending, self._pending_bytes = self._pending, [], 0
        if not self.transport.is_closing():
            self.transport.write(b"".join(pending))

    def write_eof(self) -> None:
        try:
            self.flush()
        finally:
            self.transport.write_eof()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.transport.close()

    def get_write_buffer_size(self) -> int:
        return self._pending_bytes + self.transport.get_write_buffer_size()

    def __getattr__(self, name: str) -> Any:
        # Everything else (`abort`, `is_closing`, `get_extra_info`, reading and flow control) is
        # the transport's own; an abort drops what waits here too, as it drops the transport's buffer.
        return getattr(self.transport, name)


class OneWritePerResponse(HttpToolsProtocol):
    """`uvicorn.run(..., http=OneWritePerResponse)`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(JoinedWrites(transport))  # type: ignore[arg-type]

    def handle_websocket_upgrade(self) -> None:
        joined = self.transport
        if isinstance(joined, JoinedWrites):
            joined.flush()
            self.transport = joined.transport
        super().handle_websocket_upgrade()


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    max_header_bytes: int
    max_header_count: int
    header_timeout: float
    max_connections: int

    @classmethod
    def from_settings(cls, settings: Settings) -> "ConnectionLimits":
        max_connections = settings.max_connections
        if max_connections is None:
            # Room for the database pool, files and the listening sockets beside the clients.
            soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
            max_connections = max(16, soft * 3 // 4) if soft != resource.RLIM_INFINITY else 10_000
        return cls(
            max_header_bytes=settings.max_header_bytes,
            max_header_count=settings.max_header_count,
            header_timeout=settings.header_timeout_seconds,
            max_connections=max_connections,
        )


@functools.cache
def _limits() -> ConnectionLimits:
    return ConnectionLimits.from_settings(get_settings())


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a request already answered (and closed)."""


class BoundedProtocol(OneWritePerResponse):
    """`OneWritePerResponse` with the limits of `ConnectionLimits`, read from the settings (uvicorn
    builds the protocol from its class, in each worker process)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = _limits()
        self._fed_bytes = 0  # bytes fed to the parser while the head is incomplete
        self._head_bytes = 0  # the head's bytes as the parser hands them over
        self._header_count = 0
        self._in_head = True
        self._head_timer: asyncio.TimerHandle | None = None
        self._over_capacity = False
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._over_capacity = len(self.connections) >= self.limits.max_connections
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._over_capacity:
            # Answered once the request arrived (closing on a client still sending could reset the
            # connection before it reads the answer).
            self._refuse(HTTPStatus.SERVICE_UNAVAILABLE, "The server has too many connections; try again shortly.")
            return
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError:
            if self._refused:
                return
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
            return
        if self._in_head:
            # The parser keeps a header until it is whole: count what it holds meanwhile.
            self._fed_bytes += len(data)
            if self._fed_bytes > self.limits.max_header_bytes:
                self._refuse_large_head()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._fed_bytes = self._head_bytes = self._header_count = 0
        self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url), headers=0)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4, headers=1)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._cancel_head_timer()
        super().on_headers_complete()

    def _count_head(self, size: int, *, headers: int) -> None:
        # Counted here too, a head that arrives whole in one large chunk is refused as well.
        self._head_bytes += size
        self._header_count += headers
        if self._head_bytes > self.limits.max_header_bytes or self._header_count > self.limits.max_header_count:
            self._refuse_large_head()
            raise _Refused()

    def _refuse_large_head(self) -> None:
        self._refuse(
            HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
            f"Request headers are limited to {self.limits.max_header_bytes} bytes"
            f" and {self.limits.max_header_count} fields.",
        )

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            self._refuse(HTTPStatus.REQUEST_TIMEOUT, "The request's headers did not arrive in time.")

    def _refuse(self, status: HTTPStatus, detail: str) -> None:
        """Answer with a problem (the app never sees the request) and close the connection."""
        self._refused = True
        self._cancel_head_timer()
        if self.transport.is_closing():
            return
        code = status.phrase.lower().replace(" ", "_")
        body = (
            f'{{"type":"https://queueless.dev/problems/{code.replace("_", "-")}","title":"{status.phrase}",'
            f'"status":{status.value},"detail":"{detail}","code":"{code}"}}'
        ).encode()
        retry = b"retry-after: 5\r\n" if status is HTTPStatus.SERVICE_UNAVAILABLE else b""
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/problem+json\r\ncontent-length: %d\r\n"
            b"%sconnection: close\r\n\r\n%s" % (status.value, status.phrase.encode(), len(body), retry, body)
        )
        self.transport.close()


class AcceptErrorThrottle:
    """An event-loop exception handler that logs failures to accept a connection (no file
    descriptor left, no memory) at most once per `interval` seconds, with the number left out.

    asyncio reports each failed `accept()` through the loop's exception handler, and for each it
    schedules a retry of the listening socket a second later: with a backlog of 2,048, one flood
    of connections makes thousands of reports a second, and once the server closes its socket
    each pending retry fails and is reported too (`_start_serving`: invalid file descriptor).
    Under a flood that was hundreds of thousands of log lines a minute. Both kinds are throttled
    together; everything else goes to the handler that was there before."""

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float) -> None:
        self.previous = loop.get_exception_handler()
        self.interval = interval
        self.next_at = 0.0
        self.suppressed = 0

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        message = str(context.get("message", ""))
        if "accept" in message or "_start_serving" in message:
            now = time.monotonic()
            if now < self.next_at:
                self.suppressed += 1
                return
            self.next_at = now + self.interval
            if self.suppressed:
                context = {**context, "message": f"{message} ({self.suppressed} more not logged)"}
                self.suppressed = 0
        if self.previous is not None:
            self.previous(loop, context)
        else:
            loop.default_exception_handler(context)


def throttle_accept_errors(interval: float) -> None:
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(AcceptErrorThrottle(loop, interval))
