"""`OneWritePerResponse`: uvicorn serving real sockets with it, and what reaches the transport."""

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import connect

from app.core.http_protocol import FLUSH_AT_BYTES, JoinedWrites, OneWritePerResponse

LARGE = bytes(range(256)) * 4096  # 1 MiB


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Small, large and streamed responses, and a WebSocket echo."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    if scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while (message := await receive())["type"] == "websocket.receive":
            await send({"type": "websocket.send", "text": message["text"]})
        return
    body = LARGE if scope["path"] == "/large" else scope["path"].encode()
    headers = [(b"content-type", b"application/octet-stream")]
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for chunk in (b"one,", b"two,", b"three"):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
async def base_url() -> AsyncIterator[str]:
    """uvicorn with the protocol, on a socket that listens before the server starts (connections
    made meanwhile wait in its backlog)."""
    listening = socket.create_server(("127.0.0.1", 0))
    config = uvicorn.Config(_app, http=OneWritePerResponse, log_config=None)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[listening]))
    yield f"127.0.0.1:{listening.getsockname()[1]}"
    server.should_exit = True
    await task
    listening.close()


async def test_responses_over_one_kept_alive_connection(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=f"http://{base_url}") as client:
        for number in range(50):
            response = await client.get(f"/small/{number}")
            assert (response.status_code, response.content) == (200, f"/small/{number}".encode())
        large = await client.get("/large")
        assert large.content == LARGE
        streamed = await client.get("/stream")
        assert streamed.content == b"one,two,three"
        assert streamed.headers["transfer-encoding"] == "chunked"
        assert (await client.get("/after")).content == b"/after"


async def test_many_connections_at_once(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=f"http://{base_url}") as client:
        responses = await asyncio.gather(*(client.get(f"/n/{n}") for n in range(64)))
    assert [r.content for r in responses] == [f"/n/{n}".encode() for n in range(64)]


async def test_websocket_upgrade_and_echo(base_url: str) -> None:
    async with connect(f"ws://{base_url}/ws") as websocket:
        for text in ("hello", "x" * 100_000):
            await websocket.send(text)
            assert await websocket.recv() == text


class _Recorder(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.protocols: list[asyncio.BaseProtocol] = []

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.protocols.append(protocol)

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


async def test_writes_of_one_turn_are_one_write_and_big_ones_go_at_once() -> None:
    recorder = _Recorder()
    joined = JoinedWrites(recorder)
    joined.write(b"HTTP/1.1 200 OK\r\n\r\n")
    joined.write(b"{}")
    assert recorder.writes == []
    await asyncio.sleep(0)
    assert recorder.writes == [b"HTTP/1.1 200 OK\r\n\r\n{}"]

    joined.write(b"head")
    joined.write(b"x" * FLUSH_AT_BYTES)
    assert recorder.writes[1:] == [b"head" + b"x" * FLUSH_AT_BYTES]

    joined.write(b"last words")
    joined.close()
    assert recorder.writes[2:] == [b"last words"]
    assert recorder.closed
    await asyncio.sleep(0)
    assert len(recorder.writes) == 3


async def test_a_bad_write_is_refused_at_once_and_the_connection_still_closes() -> None:
    recorder = _Recorder()
    joined = JoinedWrites(recorder)
    joined.write(b"head")
    with pytest.raises(TypeError):
        joined.write("not bytes")  # type: ignore[arg-type]
    joined.close()
    assert recorder.writes == [b"head"]
    assert recorder.closed


async def test_a_websocket_upgrade_hands_over_the_plain_transport() -> None:
    """WebSocket frames are not held for the end of the loop's turn: the WebSocket protocol gets
    the socket's own transport."""
    config = uvicorn.Config(_app, http=OneWritePerResponse, log_config=None)
    config.load()
    recorder = _Recorder()
    protocol = OneWritePerResponse(config=config, server_state=uvicorn.server.ServerState(), app_state={})
    protocol.connection_made(recorder)
    protocol.data_received(
        b"GET /ws HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    [websocket] = recorder.protocols
    assert getattr(websocket, "transport") is recorder  # noqa: B009
    websocket.connection_lost(None)
