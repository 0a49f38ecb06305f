"""A webhook receiver for the tests: a tiny HTTP/1.1 server on 127.0.0.1 that records what it gets
and answers with scripted statuses (or hangs)."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

HANG = -1


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    # Statuses to answer in turn (HANG: never answer); 200 once they run out.
    script: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    port: int = 0
    delay: float = 0.0
    # Answer with keep-alive and serve the next request on the same connection.
    keep_alive: bool = False
    connections: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")[1:]
                headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.received.append(Received(headers, body))
                status = self.script.pop(0) if self.script else 200
                if status == HANG:
                    await asyncio.sleep(3600)
                if self.delay:
                    await asyncio.sleep(self.delay)
                connection = "keep-alive" if self.keep_alive else "close"
                writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: {connection}\r\n\r\nok".encode())
                await writer.drain()
                if not self.keep_alive:
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def receiving(
    script: list[int] | None = None, *, delay: float = 0.0, keep_alive: bool = False
) -> AsyncIterator[Receiver]:
    receiver = Receiver(script=list(script or []), delay=delay, keep_alive=keep_alive)
    server = await asyncio.start_server(receiver._handle, "127.0.0.1", 0)
    receiver.port = server.sockets[0].getsockname()[1]
    try:
        yield receiver
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 1)
