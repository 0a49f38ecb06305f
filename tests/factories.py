"""Organizations, staff and bookable services, made through the API as a user would."""

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.helpers import Account, register, register_admin

ALL_WEEK = [{"weekday": d, "opens": "09:00", "closes": "12:00"} for d in range(7)]


@dataclass
class Org:
    id: uuid.UUID
    timezone: str
    admin: Account
    owner: Account
    staff: Account
    body: dict[str, Any]


async def create_org(
    client: httpx.AsyncClient, session: AsyncSession, *, timezone: str = "Europe/Berlin", name: str = "City Hall"
) -> Org:
    admin = await register_admin(client, session)
    response = await client.post(
        "/organizations", headers=admin.headers, json={"name": name, "kind": "government", "timezone": timezone}
    )
    assert response.status_code == 201, response.text
    org_id = response.json()["id"]
    owner = await register(client, full_name="Olga Owner")
    staff = await register(client, full_name="Sam Staff")
    for account, role in ((owner, "owner"), (staff, "staff")):
        added = await client.post(
            f"/organizations/{org_id}/members", headers=admin.headers, json={"email": account.email, "role": role}
        )
        assert added.status_code == 201, added.text
    return Org(id=uuid.UUID(org_id), timezone=timezone, admin=admin, owner=owner, staff=staff, body=response.json())


async def create_service(
    client: httpx.AsyncClient,
    org: Org,
    *,
    capacity: int = 1,
    duration: int = 30,
    weekly: list[dict[str, Any]] | None = None,
    slot_minutes: int | None = None,
    min_notice: int = 0,
    max_days_ahead: int = 730,
    requirements: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    response = await client.post(
        f"/organizations/{org.id}/services",
        headers=org.owner.headers,
        json={
            "name": f"Passport {uuid.uuid4().hex[:6]}",
            "duration_minutes": duration,
            "capacity": capacity,
            "requirements": requirements or [{"name": "ID card", "mandatory": True}],
        },
    )
    assert response.status_code == 201, response.text
    service = response.json()
    schedule = await client.put(
        f"/services/{service['id']}/schedule",
        headers=org.owner.headers,
        json={
            "slot_minutes": slot_minutes,
            "weekly": ALL_WEEK if weekly is None else weekly,
            "min_notice_minutes": min_notice,
            "max_days_ahead": max_days_ahead,
        },
    )
    assert schedule.status_code == 200, schedule.text
    return dict(service)


def local_slot(timezone: str, *, days_ahead: int = 3, hour: int = 9, minute: int = 0) -> datetime:
    day = datetime.now(ZoneInfo(timezone)).date() + timedelta(days=days_ahead)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZoneInfo(timezone))


def future_day(timezone: str, days_ahead: int = 3) -> date:
    return datetime.now(ZoneInfo(timezone)).date() + timedelta(days=days_ahead)


async def book(
    client: httpx.AsyncClient, account: Account, service_id: str, starts_at: datetime, **extra: Any
) -> httpx.Response:
    return await client.post(
        "/appointments",
        headers=account.headers,
        json={"service_id": service_id, "starts_at": starts_at.isoformat(), **extra},
    )


ROUND_THE_CLOCK = [{"weekday": d, "opens": "00:00", "closes": "23:59"} for d in range(7)]


async def book_soon(client: httpx.AsyncClient, org: Org, service_id: str, account: Account) -> dict[str, Any]:
    """Book the first free slot from now on (the service must be open round the clock)."""
    today = datetime.now(ZoneInfo(org.timezone)).date()
    slots = await client.get(
        f"/services/{service_id}/slots",
        params={"from": today.isoformat(), "to": (today + timedelta(days=1)).isoformat()},
    )
    first = next(s for s in slots.json() if s["available"] > 0)
    response = await book(client, account, service_id, datetime.fromisoformat(first["starts_at"]))
    assert response.status_code == 201, response.text
    return dict(response.json())
