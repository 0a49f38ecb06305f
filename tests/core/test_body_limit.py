"""JSON and form bodies over MAX_JSON_BODY_BYTES are refused with 413 while they arrive, over real
sockets (uvicorn with the app, in this process)."""

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator

import pytest
import uvicorn
from fastapi import FastAPI

from app.core.http_protocol import OneWritePerResponse
from app.core.settings import Settings

HEAD_TIMEOUT = 10


@pytest.fixture
async def address(app: FastAPI) -> AsyncIterator[tuple[str, int]]:
    listening = socket.create_server(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(app, http=OneWritePerResponse, log_config=None, lifespan="off", timeout_graceful_shutdown=2)
    )
    task = asyncio.create_task(server.serve(sockets=[listening]))
    yield listening.getsockname()
    server.should_exit = True
    await task
    listening.close()


async def _response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT)
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
    body = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", "0"))), HEAD_TIMEOUT)
    return int(status_line.split()[1]), headers, body


def _request_head(content_type: str, *, length: int | None) -> bytes:
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    return (
        f"POST /api/v1/auth/login HTTP/1.1\r\nHost: test\r\nContent-Type: {content_type}\r\n{framing}\r\n\r\n"
    ).encode()


async def test_a_declared_length_over_the_limit_is_refused_before_the_body_arrives(
    address: tuple[str, int], settings: Settings
) -> None:
    reader, writer = await asyncio.open_connection(*address)
    writer.write(_request_head("application/json", length=50 * 1024 * 1024) + b'{"email": "')
    await writer.drain()
    # Nothing more is sent: the answer cannot wait for the body.
    status, headers, body = await _response(reader)
    assert status == 413
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    assert json.loads(body)["code"] == "payload_too_large"
    assert str(settings.max_json_body_bytes) in json.loads(body)["detail"]
    writer.close()


async def test_a_chunked_body_is_refused_once_it_passes_the_limit(address: tuple[str, int], settings: Settings) -> None:
    reader, writer = await asyncio.open_connection(*address)
    writer.write(_request_head("application/json; charset=utf-8", length=None))
    chunk = b" " * 65536
    sent = 0

    async def send_chunks() -> None:
        nonlocal sent
        with contextlib.suppress(ConnectionError):
            while sent < 3 * settings.max_json_body_bytes:
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()
                sent += len(chunk)
                await asyncio.sleep(0.01)

    sending = asyncio.create_task(send_chunks())
    status, _, body = await _response(reader)
    stopped_at = sent
    sending.cancel()
    assert status == 413
    assert json.loads(body)["code"] == "payload_too_large"
    assert settings.max_json_body_bytes < stopped_at < 3 * settings.max_json_body_bytes
    writer.close()


async def test_bodies_under_the_limit_and_other_types_are_read(address: tuple[str, int], settings: Settings) -> None:
    under = json.dumps({"email": "a@example.org", "password": "x" * (settings.max_json_body_bytes - 100)}).encode()
    assert len(under) <= settings.max_json_body_bytes
    over_but_binary = b"-" * (settings.max_json_body_bytes + 1)
    for content_type, body in (("application/json", under), ("application/octet-stream", over_but_binary)):
        reader, writer = await asyncio.open_connection(*address)
        writer.write(_request_head(content_type, length=len(body)) + body)
        await writer.drain()
        status, _, answer = await _response(reader)
        assert status == 422, answer  # read and validated, not refused for its size
        writer.close()
