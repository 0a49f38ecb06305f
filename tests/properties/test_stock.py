"""`unit_stock`, kept by triggers: exact after every kind of write, and under concurrent writers."""

import asyncio

import httpx
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.services.properties.models import Unit
from tests.helpers import register
from tests.properties.factories import (
    Clock,
    book,
    create_builder,
    create_plan,
    create_project,
    create_unit,
    hold,
    stock_drift,
)


async def test_the_stock_follows_every_write(client: httpx.AsyncClient, session: AsyncSession, clock: Clock) -> None:
    org = await create_builder(client, session)
    project = await create_project(client, org, published=False, city="Lisbon")
    plan = await create_plan(client, org, project["id"])
    units = [await create_unit(client, org, project["id"], bedrooms=n % 3, price=f"{200000 + n}.00") for n in range(6)]
    assert await stock_drift(session) == 0
    staff = org.staff.headers
    for change in ({"price": "199999.99"}, {"bedrooms": 7}, {"bedrooms": 0, "price": "1.00"}):
        assert (await client.patch(f"/units/{units[0]['id']}", headers=staff, json=change)).status_code == 200
        assert await stock_drift(session) == 0
    for change in ({"city": "Porto"}, {"published": True}):
        assert (await client.patch(f"/projects/{project['id']}", headers=staff, json=change)).status_code == 200
        assert await stock_drift(session) == 0
    buyer = await register(client)
    released = (await hold(client, buyer, units[1]["id"])).json()
    assert await stock_drift(session) == 0
    assert (await client.post(f"/holds/{released['id']}/release", headers=buyer.headers)).status_code == 200
    assert await stock_drift(session) == 0
    held = (await hold(client, buyer, units[2]["id"])).json()
    booking = (await book(client, buyer, held["id"], plan["id"])).json()
    assert await stock_drift(session) == 0
    assert (await client.post(f"/bookings/{booking['id']}/cancel", headers=staff, json={})).status_code == 200
    assert await stock_drift(session) == 0
    # A lapsed hold stays recorded on its unit (and counted as held) until the unit changes again.
    await hold(client, buyer, units[3]["id"])
    clock.advance(minutes=20)
    assert (await hold(client, await register(client), units[3]["id"])).status_code == 201
    assert await stock_drift(session) == 0
    # Writes outside the app: a bulk update and a delete.
    await session.execute(
        update(Unit).where(Unit.project_id == project["id"]).values(price=Unit.price + 1),
        execution_options={"synchronize_session": False},
    )
    await session.execute(text("DELETE FROM units WHERE id = :id"), {"id": units[4]["id"]})
    await session.commit()
    assert await stock_drift(session) == 0
    assert (await client.get(f"/projects/{project['id']}")).json()["units_total"] == 5


async def test_a_deleted_project_takes_its_stock_with_it(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_builder(client, session)
    project = await create_project(client, org)
    await create_unit(client, org, project["id"])
    await session.execute(text("DELETE FROM organizations WHERE id = :id"), {"id": org.id})
    await session.commit()
    assert await session.scalar(text("SELECT count(*) FROM unit_stock")) == 0


async def test_concurrent_writers_of_one_group_leave_it_exact(
    client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine
) -> None:
    """Two transactions change units of one (project, size): the second waits for the first's lock
    on the group's row and then counts what the first committed (a count taken before the lock
    would have overwritten it). Then a dozen holds of one group at once."""
    org = await create_builder(client, session)
    project = await create_project(client, org)
    units = [await create_unit(client, org, project["id"], bedrooms=2) for _ in range(14)]
    hold_sql = text(
        "UPDATE units SET hold_id = gen_random_uuid(), held_until = now() + interval '1 hour' WHERE id = :id"
    )
    async with engine.connect() as first, engine.connect() as second:
        await first.execute(hold_sql, {"id": units[0]["id"]})
        waiting = asyncio.create_task(second.execute(hold_sql, {"id": units[1]["id"]}))
        await asyncio.sleep(0.3)
        assert not waiting.done()  # queued on the group's row
        await first.commit()
        await asyncio.wait_for(waiting, 10)
        await second.commit()
    assert await stock_drift(session) == 0
    held = await session.scalar(text("SELECT held FROM unit_stock WHERE project_id = :p"), {"p": project["id"]})
    assert held == 2
    buyers = [await register(client) for _ in range(12)]
    responses = await asyncio.gather(*(hold(client, b, u["id"]) for b, u in zip(buyers, units[2:], strict=True)))
    assert [r.status_code for r in responses] == [201] * 12
    assert await stock_drift(session) == 0
    counts = text("SELECT free, held FROM unit_stock WHERE project_id = :p")
    assert tuple((await session.execute(counts, {"p": project["id"]})).one()) == (0, 14)


async def test_a_new_size_waits_for_a_concurrent_change_of_its_project(
    client: httpx.AsyncClient, session: AsyncSession, engine: AsyncEngine
) -> None:
    """Units of a new size start their project's row for that size with the project's city: while a
    rename is still uncommitted the statement waits for it (and copies the new name), where copying
    the old one would leave the row out of the rename's reach for good. The statement also touches a
    size the project has, whose row it must not hold while it waits (or the two would deadlock)."""
    org = await create_builder(client, session)
    project = await create_project(client, org, city="Lisbon")
    await create_unit(client, org, project["id"], bedrooms=1)
    two_sizes = text(
        "INSERT INTO units (id, project_id, organization_id, code, type, floor, bedrooms, area_m2, price)"
        " VALUES (gen_random_uuid(), :p, :o, 'ONE', 'villa', 0, 1, 90, 400000),"
        " (gen_random_uuid(), :p, :o, 'FIVE', 'villa', 0, 5, 90, 500000)"
    )
    async with engine.connect() as renaming, engine.connect() as adding:
        await renaming.execute(text("UPDATE projects SET city = 'Porto' WHERE id = :p"), {"p": project["id"]})
        waiting = asyncio.create_task(adding.execute(two_sizes, {"p": project["id"], "o": org.id}))
        await asyncio.sleep(0.3)
        assert not waiting.done()  # for the rename
        await renaming.commit()
        await asyncio.wait_for(waiting, 10)
        await adding.commit()
    assert await stock_drift(session) == 0
    found = (await client.get("/projects", params={"city": "porto", "bedrooms": 5})).json()
    assert [p["id"] for p in found["items"]] == [project["id"]]
