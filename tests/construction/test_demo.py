"""The construction demo: milestones, progress updates and change requests the API reads back."""

import io
from decimal import Decimal

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.demo import seed as demo_seed
from app.demo.seed import DOMAIN, PASSWORD, Progress


async def _count(session: AsyncSession, sql: str) -> int:
    return int((await session.execute(text(sql))).scalar_one())


async def test_construction_demo_is_idempotent_and_the_api_agrees(
    client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine
) -> None:
    quiet = Progress(stream=io.StringIO())
    await demo_seed.seed(engine, appointments=50, citizens=80, bcrypt_rounds=4, progress=quiet)
    counts = [
        await _count(session, f"SELECT count(*) FROM {t}")
        for t in ("milestones", "progress_updates", "change_requests", "instalments")
    ]
    await demo_seed.seed(engine, appointments=50, citizens=80, bcrypt_rounds=4, progress=quiet)
    again = [
        await _count(session, f"SELECT count(*) FROM {t}")
        for t in ("milestones", "progress_updates", "change_requests", "instalments")
    ]
    assert again == counts
    assert counts[0] > 0
    assert counts[1] > 0
    statuses = set((await session.execute(text("SELECT status FROM change_requests"))).scalars())
    assert statuses == {"requested", "quoted", "accepted", "declined", "withdrawn"}

    login = await client.post("/auth/login", json={"email": f"richard.lane@{DOMAIN}", "password": PASSWORD})
    owner = {"Authorization": f"Bearer {login.json()['access_token']}"}
    projects = (await client.get("/projects", params={"status": "under_construction"})).json()["items"]
    assert projects
    for project in projects:
        assert project["progress_percent"] == (100 + 100 + 60 + 0) // 4
        updates = await client.get(f"/projects/{project['id']}/progress-updates", headers=owner)
        assert updates.json()["total"] == 3

    accepted = (
        await session.execute(text("SELECT id, booking_id FROM change_requests WHERE status = 'accepted'"))
    ).one()
    request = (await client.get(f"/change-requests/{accepted.id}", headers=owner)).json()
    schedule = (await client.get(f"/bookings/{accepted.booking_id}/schedule", headers=owner)).json()
    booking = (await client.get(f"/bookings/{accepted.booking_id}", headers=owner)).json()
    assert schedule["instalments"][-1]["id"] == request["instalment_id"]
    assert schedule["instalments"][-1]["kind"] == "change_request"
    assert Decimal(schedule["total"]) == Decimal(booking["price"]) + Decimal(request["amount"])
    assert sum(Decimal(line["amount"]) for line in schedule["instalments"]) == Decimal(schedule["total"])
    assert booking["delay_days"] == request["days"]
    history = (await client.get(f"/change-requests/{accepted.id}/history", headers=owner)).json()
    assert [h["to_status"] for h in history] == ["requested", "quoted", "accepted"]
