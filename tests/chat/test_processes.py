"""Two uvicorn processes sharing the test database: live delivery crosses processes via LISTEN/NOTIFY."""

import asyncio
import json
import os
import socket as socket_module
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from app.core.settings import Settings
from tests.chat.helpers import start_chat

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket_module.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_live(port: int, process: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"uvicorn on port {port} exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"uvicorn on port {port} did not start")


@pytest.fixture(scope="module")
def servers(settings: Settings, database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    """Two server processes on free loopback ports; their base URLs."""
    assert settings.secret_key is not None
    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "DATABASE_URL": database_url,
        "SECRET_KEY": settings.secret_key,
        "DATA_DIR": str(tmp_path_factory.mktemp("servers")),
        "LOG_LEVEL": "WARNING",
    }
    ports = [_free_port(), _free_port()]
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "app.main:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            cwd=ROOT,
            env=env,
        )
        for port in ports
    ]
    try:
        deadline = time.monotonic() + 90  # imports are slow on a busy 2-core box
        for port, process in zip(ports, processes, strict=True):
            _wait_until_live(port, process, deadline)
        yield [f"127.0.0.1:{port}" for port in ports]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def _open(host: str, token: str) -> ClientConnection:
    ws = await connect(f"ws://{host}/api/v1/ws/chat?token={token}", open_timeout=5)
    await ws.send('{"type":"ping"}')
    assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"type": "pong"}
    return ws


async def _next(ws: ClientConnection, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(5):
        while True:
            frame: dict[str, Any] = json.loads(await ws.recv())
            if frame["type"] == kind:
                return frame


async def test_message_posted_on_one_process_arrives_on_the_other(
    servers: list[str], client: httpx.AsyncClient, session: AsyncSession
) -> None:
    first, second = servers
    chat = await start_chat(client, session)
    citizen_ws = await _open(first, chat.citizen.access_token)
    staff_ws = await _open(second, chat.org.staff.access_token)
    try:
        async with httpx.AsyncClient(base_url=f"http://{first}/api/v1") as remote:
            sent = await remote.post(
                f"/conversations/{chat.id}/messages", headers=chat.citizen.headers, json={"body": "via process one"}
            )
        assert sent.status_code == 201
        assert (await _next(staff_ws, "message"))["message"] == sent.json()

        await staff_ws.send(
            json.dumps({"type": "send", "conversation_id": chat.id, "body": "from two", "client_id": "p2"})
        )
        ack = await _next(staff_ws, "ack")
        assert (await _next(citizen_ws, "message"))["message"] == sent.json()  # the citizen's own, first
        assert (await _next(citizen_ws, "message"))["message"] == ack["message"]
        assert ack["message"]["id"] > sent.json()["id"]
    finally:
        await citizen_ws.close()
        await staff_ws.close()


async def test_real_server_refuses_a_foreign_origin_with_403(
    servers: list[str], client: httpx.AsyncClient, session: AsyncSession
) -> None:
    chat = await start_chat(client, session)
    url = f"ws://{servers[0]}/api/v1/ws/chat?token={chat.citizen.access_token}"
    with pytest.raises(InvalidStatus) as refused:
        await connect(url, origin="https://evil.example", open_timeout=5)  # type: ignore[arg-type]
    assert refused.value.response.status_code == 403
