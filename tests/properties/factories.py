"""Builders, projects, units and payment plans made through the API, and a clock tests can move."""

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.properties.dependencies import get_now
from tests.factories import Org
from tests.helpers import Account, register, register_admin

THREE_PARTS = [
    {"label": "Down payment", "percent": "10", "trigger": "booking"},
    {"label": "Frame", "percent": "40", "trigger": "booking", "offset_days": 90},
    {"label": "Handover", "percent": "50", "trigger": "handover"},
]


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
async def clock(app: FastAPI) -> AsyncIterator[Clock]:
    """The app's clock, frozen at the start of the test until the test moves it."""
    current = Clock()

    async def frozen() -> datetime:
        return current.now

    app.dependency_overrides[get_now] = frozen
    yield current
    app.dependency_overrides.pop(get_now, None)


async def create_builder(
    client: httpx.AsyncClient, session: AsyncSession, *, timezone: str = "Europe/Berlin", kind: str = "property"
) -> Org:
    admin = await register_admin(client, session)
    response = await client.post(
        "/organizations",
        headers=admin.headers,
        json={"name": f"Harbour {uuid.uuid4().hex[:6]}", "kind": kind, "timezone": timezone},
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


async def create_project(
    client: httpx.AsyncClient, org: Org, *, published: bool = True, **fields: Any
) -> dict[str, Any]:
    payload = {"name": "Marina Towers", "city": "Lisbon", "currency": "EUR", **fields}
    response = await client.post(f"/organizations/{org.id}/projects", headers=org.staff.headers, json=payload)
    assert response.status_code == 201, response.text
    project: dict[str, Any] = response.json()
    if published:
        response = await client.patch(f"/projects/{project['id']}", headers=org.staff.headers, json={"published": True})
        assert response.status_code == 200, response.text
        project = response.json()
    return project


async def create_unit(
    client: httpx.AsyncClient, org: Org, project_id: str, *, code: str | None = None, **fields: Any
) -> dict[str, Any]:
    payload = {
        "code": code or f"A-{uuid.uuid4().hex[:6]}",
        "type": "apartment",
        "floor": 3,
        "bedrooms": 2,
        "area_m2": "84.50",
        "price": "300000.00",
        **fields,
    }
    response = await client.post(f"/projects/{project_id}/units", headers=org.staff.headers, json=payload)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def create_plan(
    client: httpx.AsyncClient, org: Org, project_id: str, instalments: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    response = await client.post(
        f"/projects/{project_id}/payment-plans",
        headers=org.staff.headers,
        json={"name": "Standard", "instalments": instalments or THREE_PARTS},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def hold(client: httpx.AsyncClient, account: Account, unit_id: str) -> httpx.Response:
    return await client.post(f"/units/{unit_id}/holds", headers=account.headers, json={})


async def book(client: httpx.AsyncClient, account: Account, hold_id: str, plan_id: str) -> httpx.Response:
    return await client.post(
        "/bookings", headers=account.headers, json={"hold_id": hold_id, "payment_plan_id": plan_id}
    )


@dataclass
class Sale:
    org: Org
    project: dict[str, Any]
    unit: dict[str, Any]
    plan: dict[str, Any]
    buyer: Account
    booking: dict[str, Any]


async def make_sale(
    client: httpx.AsyncClient,
    session: AsyncSession,
    *,
    price: str = "300000.00",
    currency: str = "EUR",
    instalments: list[dict[str, Any]] | None = None,
    org: Org | None = None,
    project: dict[str, Any] | None = None,
) -> Sale:
    org = org or await create_builder(client, session)
    project = project or await create_project(client, org, currency=currency)
    unit = await create_unit(client, org, project["id"], price=price)
    plan = await create_plan(client, org, project["id"], instalments)
    buyer = await register(client, full_name="Bea Buyer")
    held = await hold(client, buyer, unit["id"])
    assert held.status_code == 201, held.text
    booked = await book(client, buyer, held.json()["id"], plan["id"])
    assert booked.status_code == 201, booked.text
    return Sale(org=org, project=project, unit=unit, plan=plan, buyer=buyer, booking=booked.json())


_FREE = "u.sale_status IS NULL AND u.held_until IS NULL"
# `unit_stock` rows that differ from a recount of the units (bench/property.py checks the same).
_STOCK_DRIFT = f"""
SELECT count(*) FROM unit_stock AS s FULL JOIN (
    SELECT u.project_id, u.bedrooms, count(*) AS units, count(*) FILTER (WHERE {_FREE}) AS free,
        min(u.price) FILTER (WHERE {_FREE}) AS free_from,
        coalesce(range_agg(numrange(u.price, u.price, '[]')) FILTER (WHERE {_FREE}), '{{}}') AS free_prices,
        count(*) FILTER (WHERE u.sale_status IS NULL AND u.held_until IS NOT NULL) AS held
    FROM units AS u GROUP BY u.project_id, u.bedrooms
) AS c ON c.project_id = s.project_id AND c.bedrooms = s.bedrooms
JOIN projects AS p ON p.id = coalesce(s.project_id, c.project_id)
WHERE (s.units, s.free, s.free_from, s.free_prices, s.held)
        IS DISTINCT FROM (coalesce(c.units, 0), coalesce(c.free, 0), c.free_from, coalesce(c.free_prices, '{{}}'),
            coalesce(c.held, 0))
    OR (s.city_key, s.published, s.created_at, s.organization_id)
        IS DISTINCT FROM (lower(p.city), p.published, p.created_at, p.organization_id)
    OR s.free_prices_brief
        IS DISTINCT FROM CASE WHEN (SELECT count(*) FROM unnest(s.free_prices)) <= 32 THEN s.free_prices END
"""


async def stock_drift(session: AsyncSession) -> int:
    """How many `unit_stock` rows differ from what the units and projects say now (0: exact)."""
    drift = await session.scalar(text(_STOCK_DRIFT))
    await session.commit()
    return int(drift or 0)
