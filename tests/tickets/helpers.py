"""Helpdesk factories: an organization with a desk, tickets in any status, and a settable clock."""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.services.tickets.dependencies import get_now
from tests.factories import Org, create_org
from tests.helpers import Account, register


@dataclass
class Clock:
    """The time the app's business rules read (`get_now`), moved by the test."""

    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock(app: FastAPI) -> Iterator[Clock]:
    fixed = Clock()

    async def now() -> datetime:
        return fixed.now

    app.dependency_overrides[get_now] = now
    yield fixed
    app.dependency_overrides.pop(get_now, None)


@dataclass
class Desk:
    org: Org
    requester: Account


async def create_desk(client: httpx.AsyncClient, session: Any, *, name: str = "City Hall") -> Desk:
    org = await create_org(client, session, name=name)
    requester = await register(client, full_name="Rita Requester")
    return Desk(org=org, requester=requester)


async def open_ticket(
    client: httpx.AsyncClient, desk: Desk, *, by: Account | None = None, **fields: Any
) -> dict[str, Any]:
    body = {"organization_id": str(desk.org.id), "subject": "My passport", "description": "Where is it?", **fields}
    response = await client.post("/tickets", headers=(by or desk.requester).headers, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


# A path from `new` to each status, through allowed moves.
PATHS: dict[str, list[str]] = {
    "new": [],
    "open": ["open"],
    "pending": ["pending"],
    "on_hold": ["on_hold"],
    "solved": ["solved"],
    "closed": ["solved", "closed"],
}


async def move(
    client: httpx.AsyncClient, ticket_id: str, account: Account, status: str, **extra: Any
) -> httpx.Response:
    return await client.post(f"/tickets/{ticket_id}/status", headers=account.headers, json={"status": status, **extra})


async def ticket_in(client: httpx.AsyncClient, desk: Desk, status: str) -> dict[str, Any]:
    ticket = await open_ticket(client, desk)
    for step in PATHS[status]:
        response = await move(client, ticket["id"], desk.org.staff, step)
        assert response.status_code == 200, response.text
        ticket = response.json()
    return ticket


def random_id() -> str:
    return str(uuid.uuid4())
