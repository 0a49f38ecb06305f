"""The property demo: Harbourview's projects, sales in every state, and figures the API agrees with."""

import io
from decimal import Decimal

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.demo import seed as demo_seed
from app.demo.seed import DOMAIN, PASSWORD, Progress


async def _count(session: AsyncSession, sql: str) -> int:
    return int((await session.execute(text(sql))).scalar_one())


async def test_property_demo_has_every_state_and_the_api_agrees(
    client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine
) -> None:
    quiet = Progress(stream=io.StringIO())
    await demo_seed.seed(engine, appointments=50, citizens=80, bcrypt_rounds=4, progress=quiet)
    bookings = await _count(session, "SELECT count(*) FROM bookings")
    await demo_seed.seed(engine, appointments=50, citizens=80, bcrypt_rounds=4, progress=quiet)
    assert await _count(session, "SELECT count(*) FROM bookings") == bookings  # idempotent
    statuses = (await session.execute(text("SELECT DISTINCT status FROM bookings"))).scalars()
    assert set(statuses) == {"reserved", "sold", "cancelled"}
    assert await _count(session, "SELECT count(*) FROM units") >= 400
    assert await _count(session, "SELECT count(DISTINCT city) FROM projects") >= 4
    assert await _count(session, "SELECT count(*) FROM payments") > 0

    riverton = (await client.get("/projects", params={"city": "riverton"})).json()
    assert {p["name"] for p in riverton["items"]} == {"Harbourview Quay", "Quayside Lofts"}  # the third is a draft
    login = await client.post("/auth/login", json={"email": f"richard.lane@{DOMAIN}", "password": PASSWORD})
    assert login.status_code == 200, login.text
    owner = {"Authorization": f"Bearer {login.json()['access_token']}"}
    project = riverton["items"][0]
    reserved = await client.get(
        f"/projects/{project['id']}/bookings", headers=owner, params={"status": "reserved", "size": 100}
    )
    items = reserved.json()["items"]
    assert items
    assert any(Decimal(b["overdue_amount"]) > 0 for b in items)
    for booking in items:
        schedule = (await client.get(f"/bookings/{booking['id']}/schedule", headers=owner)).json()
        total = sum(Decimal(line["amount"]) for line in schedule["instalments"])
        assert total == Decimal(schedule["total"]) == Decimal(booking["price"])
        assert Decimal(schedule["paid"]) + Decimal(schedule["balance"]) == total
        assert schedule["overdue_amount"] == booking["overdue_amount"]
