import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import create_org, create_service
from tests.helpers import assert_problem, register


async def test_service_is_public_with_requirements_and_empty_rating(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = await create_org(client, session)
    service = await create_service(client, org, requirements=[{"name": "Photo", "mandatory": False}])
    body = (await client.get(f"/services/{service['id']}")).json()
    assert body["rating"] == {"average": None, "count": 0}
    assert body["requirements"][0]["name"] == "Photo"
    assert body["requirements"][0]["mandatory"] is False
    listed = (await client.get("/services", params={"organization_id": str(org.id), "q": "passport"})).json()
    assert listed["total"] == 1
    schedule = (await client.get(f"/services/{service['id']}/schedule")).json()
    assert schedule["slot_minutes"] == 30
    assert len(schedule["weekly"]) == 7


@pytest.mark.parametrize(
    ("weekly", "slot_minutes", "code"),
    [
        (
            [{"weekday": 0, "opens": "09:00", "closes": "12:00"}, {"weekday": 0, "opens": "11:00", "closes": "13:00"}],
            None,
            "overlapping_hours",
        ),
        ([{"weekday": 0, "opens": "12:00", "closes": "09:00"}], None, "validation_error"),
        ([{"weekday": 7, "opens": "09:00", "closes": "12:00"}], None, "validation_error"),
        ([{"weekday": 0, "opens": "09:00", "closes": "12:00"}], 15, "slot_too_short"),
    ],
    ids=["overlapping", "ends-before-start", "bad-weekday", "slot-shorter-than-duration"],
)
async def test_bad_schedules_are_422_and_change_nothing(
    client: httpx.AsyncClient, session: AsyncSession, weekly: list, slot_minutes: int | None, code: str
) -> None:
    org = await create_org(client, session)
    service = await create_service(client, org, duration=30)
    response = await client.put(
        f"/services/{service['id']}/schedule",
        headers=org.owner.headers,
        json={"weekly": weekly, "slot_minutes": slot_minutes},
    )
    assert_problem(response, 422, code)
    assert len((await client.get(f"/services/{service['id']}/schedule")).json()["weekly"]) == 7


async def test_capacity_below_one_is_422(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_org(client, session)
    response = await client.post(
        f"/organizations/{org.id}/services",
        headers=org.owner.headers,
        json={"name": "X", "duration_minutes": 30, "capacity": 0, "requirements": []},
    )
    assert_problem(response, 422, "validation_error")


async def test_closure_ending_before_it_starts_is_422(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_org(client, session)
    service = await create_service(client, org)
    response = await client.post(
        f"/services/{service['id']}/closures",
        headers=org.owner.headers,
        json={"starts_on": "2030-01-02", "ends_on": "2030-01-01"},
    )
    assert_problem(response, 422, "invalid_range")


async def test_staff_and_outsiders_cannot_manage_services(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_org(client, session)
    other = await create_org(client, session, name="Other")
    service = await create_service(client, org)
    for account in (org.staff, other.owner, await register(client)):
        assert_problem(
            await client.patch(f"/services/{service['id']}", headers=account.headers, json={"capacity": 5}),
            403,
            "forbidden",
        )
        create = await client.post(
            f"/organizations/{org.id}/services",
            headers=account.headers,
            json={"name": "X", "duration_minutes": 30, "capacity": 1},
        )
        assert_problem(create, 403, "forbidden")


async def test_update_keeps_and_replaces_requirements(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_org(client, session)
    service = await create_service(client, org, requirements=[{"name": "A"}, {"name": "B"}])
    keep = service["requirements"][1]
    response = await client.patch(
        f"/services/{service['id']}",
        headers=org.owner.headers,
        json={"capacity": 3, "requirements": [{"id": keep["id"], "name": "B2", "mandatory": False}, {"name": "C"}]},
    )
    body = response.json()
    assert body["capacity"] == 3
    assert [(r["name"], r["id"] == keep["id"]) for r in body["requirements"]] == [("B2", True), ("C", False)]
    foreign = await client.patch(
        f"/services/{service['id']}",
        headers=org.owner.headers,
        json={"requirements": [{"id": "00000000-0000-0000-0000-000000000000", "name": "Z"}]},
    )
    assert_problem(foreign, 422, "unknown_requirement")
