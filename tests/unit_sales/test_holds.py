import asyncio
from datetime import datetime

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.helpers import assert_problem, register
from tests.properties.factories import (
    Clock,
    book,
    create_builder,
    create_plan,
    create_project,
    create_unit,
    hold,
)


async def _claims_of(session: AsyncSession, unit_id: str, now: datetime | None = None) -> tuple[int, int]:
    """(holds running at `now`, active bookings) of a unit, read in SQL."""
    row = (
        await session.execute(
            text(
                "SELECT (SELECT count(*) FROM holds"
                "  WHERE unit_id = :u AND state = 'active' AND expires_at > coalesce(:now, now())),"
                " (SELECT count(*) FROM bookings WHERE unit_id = :u AND status IN ('reserved', 'sold'))"
            ),
            {"u": unit_id, "now": now},
        )
    ).one()
    return int(row[0]), int(row[1])


async def test_eight_customers_holding_one_unit_at_once_give_one_hold(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = await create_builder(client, session)
    project = await create_project(client, org)
    unit = await create_unit(client, org, project["id"])
    customers = [await register(client) for _ in range(8)]
    responses = await asyncio.gather(*(hold(client, c, unit["id"]) for c in customers))
    assert sorted(r.status_code for r in responses) == [201] + [409] * 7
    for response in responses:
        if response.status_code == 409:
            assert response.json()["code"] == "unit_unavailable"
    assert await _claims_of(session, unit["id"]) == (1, 0)


async def test_hold_body_and_own_second_hold_is_unavailable(
    client: httpx.AsyncClient, session: AsyncSession, clock: Clock
) -> None:
    org = await create_builder(client, session)
    project = await create_project(client, org)
    unit = await create_unit(client, org, project["id"])
    buyer = await register(client)
    response = await hold(client, buyer, unit["id"])
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {
        "id",
        "unit_id",
        "project_id",
        "customer_id",
        "status",
        "expires_at",
        "created_at",
        "updated_at",
    }
    assert body["status"] == "active"
    assert body["customer_id"] == str(buyer.id)
    assert_problem(await hold(client, buyer, unit["id"]), 409, "unit_unavailable")
    assert (await client.get(f"/units/{unit['id']}")).json()["status"] == "held"


async def test_an_expired_hold_frees_its_unit_with_no_job(
    client: httpx.AsyncClient, session: AsyncSession, clock: Clock
) -> None:
    org = await create_builder(client, session)
    project = await create_project(client, org)
    unit = await create_unit(client, org, project["id"])
    plan = await create_plan(client, org, project["id"])
    first, second = await register(client), await register(client)
    lapsed = (await hold(client, first, unit["id"])).json()
    clock.advance(minutes=14, seconds=59)
    assert_problem(await hold(client, second, unit["id"]), 409, "unit_unavailable")
    clock.advance(seconds=1)
    assert (await client.get(f"/holds/{lapsed['id']}", headers=first.headers)).json()["status"] == "expired"
    assert (await client.get(f"/units/{unit['id']}")).json()["status"] == "available"
    expired = await client.get("/holds", headers=first.headers, params={"status": "expired"})
    assert [h["id"] for h in expired.json()["items"]] == [lapsed["id"]]
    taken = await hold(client, second, unit["id"])
    assert taken.status_code == 201, taken.text
    assert_problem(await book(client, first, lapsed["id"], plan["id"]), 409, "hold_expired")
    assert_problem(await client.post(f"/holds/{lapsed['id']}/release", headers=first.headers), 409, "hold_not_active")
    assert (await client.get(f"/holds/{lapsed['id']}", headers=first.headers)).json()["status"] == "expired"


async def test_release_frees_the_unit_and_only_holder_or_staff_may(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = await create_builder(client, session)
    project = await create_project(client, org)
    unit = await create_unit(client, org, project["id"])
    buyer, stranger = await register(client), await register(client)
    held = (await hold(client, buyer, unit["id"])).json()
    assert_problem(await client.get(f"/holds/{held['id']}", headers=stranger.headers), 404, "not_found")
    assert_problem(await client.post(f"/holds/{held['id']}/release", headers=stranger.headers), 404, "not_found")
    assert (await client.get(f"/holds/{held['id']}", headers=org.staff.headers)).status_code == 200
    released = await client.post(f"/holds/{held['id']}/release", headers=org.staff.headers)
    assert released.status_code == 200
    assert released.json()["status"] == "released"
    assert (await client.get(f"/units/{unit['id']}")).json()["status"] == "available"
    assert_problem(await client.post(f"/holds/{held['id']}/release", headers=buyer.headers), 409, "hold_not_active")
    assert (await hold(client, stranger, unit["id"])).status_code == 201


async def test_project_holds_are_for_staff(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_builder(client, session)
    project = await create_project(client, org)
    unit = await create_unit(client, org, project["id"])
    buyer = await register(client)
    await hold(client, buyer, unit["id"])
    assert_problem(await client.get(f"/projects/{project['id']}/holds", headers=buyer.headers), 403, "forbidden")
    listing = await client.get(f"/projects/{project['id']}/holds", headers=org.staff.headers)
    assert listing.json()["total"] == 1
    other = await create_builder(client, session)
    assert_problem(await client.get(f"/projects/{project['id']}/holds", headers=other.staff.headers), 403, "forbidden")


async def test_hold_limit_per_customer_and_organization(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_builder(client, session)
    other = await create_builder(client, session)
    project = await create_project(client, org)
    elsewhere = await create_project(client, other)
    units = [await create_unit(client, org, project["id"]) for _ in range(3)]
    buyer = await register(client)
    first = (await hold(client, buyer, units[0]["id"])).json()
    assert (await hold(client, buyer, units[1]["id"])).status_code == 201
    assert_problem(await hold(client, buyer, units[2]["id"]), 409, "hold_limit")
    # Another builder's limit is its own.
    assert (await hold(client, buyer, (await create_unit(client, other, elsewhere["id"]))["id"])).status_code == 201
    await client.post(f"/holds/{first['id']}/release", headers=buyer.headers)
    assert (await hold(client, buyer, units[2]["id"])).status_code == 201


async def test_two_holds_of_one_customer_racing_the_limit_give_one(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = await create_builder(client, session)
    settings = await client.patch(
        f"/organizations/{org.id}/property-settings", headers=org.owner.headers, json={"max_holds_per_customer": 1}
    )
    assert settings.status_code == 200
    project = await create_project(client, org)
    for _ in range(3):
        units = [await create_unit(client, org, project["id"]) for _ in range(4)]
        buyer = await register(client)
        responses = await asyncio.gather(*(hold(client, buyer, u["id"]) for u in units))
        assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]
        assert {r.json()["code"] for r in responses if r.status_code == 409} == {"hold_limit"}
        running = await session.scalar(
            text("SELECT count(*) FROM holds WHERE customer_id = :c AND state = 'active'"), {"c": buyer.id}
        )
        assert running == 1


async def test_a_booking_and_a_hold_racing_never_both_win(
    client: httpx.AsyncClient, session: AsyncSession, clock: Clock
) -> None:
    org = await create_builder(client, session)
    project = await create_project(client, org)
    plan = await create_plan(client, org, project["id"])
    for lapsed in (False, True, False, True):
        unit = await create_unit(client, org, project["id"])
        holder, rival = await register(client), await register(client)
        held = (await hold(client, holder, unit["id"])).json()
        if lapsed:
            clock.advance(minutes=15)
        booking, rival_hold = await asyncio.gather(
            book(client, holder, held["id"], plan["id"]), hold(client, rival, unit["id"])
        )
        if lapsed:
            assert_problem(booking, 409, "hold_expired")
            assert rival_hold.status_code == 201
        else:
            assert booking.status_code == 201, booking.text
            assert_problem(rival_hold, 409, "unit_unavailable")
        running, active = await _claims_of(session, unit["id"], clock.now)
        assert running + active == 1
