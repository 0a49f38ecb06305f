"""Chat factories: an organization with staff, a citizen, a conversation, and socket helpers."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport

from tests.factories import Org, create_org
from tests.helpers import Account, register


@dataclass
class Chat:
    org: Org
    citizen: Account
    conversation: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.conversation["id"])


async def start_chat(
    client: httpx.AsyncClient, session: Any, *, org: Org | None = None, body: str = "Hello, is my passport ready?"
) -> Chat:
    org = org or await create_org(client, session)
    citizen = await register(client, full_name="Cora Citizen")
    response = await client.post(
        "/conversations",
        headers=citizen.headers,
        json={"organization_id": str(org.id), "subject": "Passport", "body": body},
    )
    assert response.status_code == 201, response.text
    return Chat(org=org, citizen=citizen, conversation=response.json())


async def post(client: httpx.AsyncClient, chat_id: str, account: Account, body: str, **extra: Any) -> httpx.Response:
    return await client.post(
        f"/conversations/{chat_id}/messages", headers=account.headers, json={"body": body, **extra}
    )


@asynccontextmanager
async def connect(
    app: FastAPI, query: str = "", headers: dict[str, str] | None = None
) -> AsyncIterator[AsyncWebSocketSession]:
    """A raw chat socket to the ASGI app in the test's own event loop and task."""
    async with (
        httpx.AsyncClient(transport=ASGIWebSocketTransport(app)) as ws_client,
        aconnect_ws(f"http://test/api/v1/ws/chat{query}", ws_client, headers=headers or {}) as ws,
    ):
        yield ws


@asynccontextmanager
async def socket(app: FastAPI, token: str) -> AsyncIterator[AsyncWebSocketSession]:
    """A signed-in chat socket, registered with the hub when this yields."""
    async with connect(app, f"?token={token}") as ws:
        await settle(ws)
        yield ws


async def settle(ws: AsyncWebSocketSession) -> None:
    """Round-trip a ping: once the pong is back, the socket is registered with the hub."""
    await ws.send_text('{"type":"ping"}')
    assert await receive(ws) == {"type": "pong"}


async def receive(ws: AsyncWebSocketSession, wait: float = 5.0) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(await ws.receive_text(timeout=wait))
    return frame


async def receive_until(ws: AsyncWebSocketSession, kind: str, wait: float = 5.0) -> dict[str, Any]:
    """The next frame of type `kind`, skipping others (e.g. notifications)."""
    async with asyncio.timeout(wait):
        while True:
            frame = await receive(ws)
            if frame["type"] == kind:
                return frame


async def assert_nothing_more(ws: AsyncWebSocketSession) -> None:
    """Nothing but the pong of a ping sent now: every earlier frame would come before it."""
    await ws.send_text('{"type":"ping"}')
    assert await receive(ws) == {"type": "pong"}


async def close_code(ws: AsyncWebSocketSession, wait: float = 5.0) -> int:
    """Read until the server closes the socket; its close code."""
    try:
        async with asyncio.timeout(wait):
            while True:
                await ws.receive_text()
    except WebSocketDisconnect as exc:
        return exc.code
    raise AssertionError("the socket stayed open")


def new_id() -> str:
    return uuid.uuid4().hex
