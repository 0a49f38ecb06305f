"""Small factories shared by the feature tests: accounts and their tokens."""

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.notifications.models import OutboxEmail
from app.services.users.models import Role, User

PASSWORD = "correct horse battery"


@dataclass
class Account:
    id: uuid.UUID
    email: str
    access_token: str
    refresh_token: str
    body: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def register(client: httpx.AsyncClient, *, email: str | None = None, full_name: str = "Ada Citizen") -> Account:
    email = email or f"user-{uuid.uuid4().hex[:10]}@example.org"
    response = await client.post("/auth/register", json={"email": email, "password": PASSWORD, "full_name": full_name})
    assert response.status_code == 201, response.text
    body = response.json()
    return Account(
        id=uuid.UUID(body["user"]["id"]),
        email=body["user"]["email"],
        access_token=body["access_token"],
        refresh_token=body["refresh_token"],
        body=body,
    )


async def register_admin(client: httpx.AsyncClient, session: AsyncSession) -> Account:
    account = await register(client, full_name="Adam Admin")
    await session.execute(update(User).where(User.id == account.id).values(role=Role.admin))
    await session.commit()
    return account


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    return body


async def mails_to(session: AsyncSession, address: str) -> list[OutboxEmail]:
    """The e-mails queued for `address`, leaving out the verification link every registration sends."""
    rows = await session.scalars(
        select(OutboxEmail).where(
            OutboxEmail.to_address == address, OutboxEmail.subject.not_like("Confirm your e-mail address%")
        )
    )
    return list(rows)
