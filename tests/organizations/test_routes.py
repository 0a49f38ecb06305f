import asyncio

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import create_org
from tests.helpers import assert_problem, register, register_admin


async def test_only_admins_create_organizations_and_zones_are_validated(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    citizen = await register(client)
    payload = {"name": "Town", "kind": "government", "timezone": "Europe/Paris"}
    assert_problem(await client.post("/organizations", headers=citizen.headers, json=payload), 403, "forbidden")
    admin = await register_admin(client, session)
    bad_zone = await client.post("/organizations", headers=admin.headers, json={**payload, "timezone": "Mars/Olympus"})
    assert_problem(bad_zone, 422, "validation_error")
    bad_kind = await client.post("/organizations", headers=admin.headers, json={**payload, "kind": "club"})
    assert_problem(bad_kind, 422, "validation_error")
    assert (await client.post("/organizations", headers=admin.headers, json=payload)).status_code == 201


async def test_public_listing_and_search(client: httpx.AsyncClient, session: AsyncSession) -> None:
    await create_org(client, session, name="North Clinic")
    await create_org(client, session, name="City Hall")
    found = (await client.get("/organizations", params={"q": "clinic"})).json()
    assert [o["name"] for o in found["items"]] == ["North Clinic"]
    assert (await client.get("/organizations", params={"kind": "government"})).json()["total"] == 2


async def test_departments_are_created_by_managers_and_listed_publicly(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = await create_org(client, session)
    created = await client.post(
        f"/organizations/{org.id}/departments", headers=org.owner.headers, json={"name": "Permits"}
    )
    assert created.status_code == 201
    duplicate = await client.post(
        f"/organizations/{org.id}/departments", headers=org.owner.headers, json={"name": "Permits"}
    )
    assert_problem(duplicate, 409, "department_exists")
    assert_problem(
        await client.post(f"/organizations/{org.id}/departments", headers=org.staff.headers, json={"name": "X"}),
        403,
        "forbidden",
    )
    assert (await client.get(f"/organizations/{org.id}/departments")).json()["total"] == 1


async def test_manager_cannot_promote_above_own_role(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_org(client, session)
    manager = await register(client)
    await client.post(
        f"/organizations/{org.id}/members", headers=org.owner.headers, json={"email": manager.email, "role": "manager"}
    )
    newcomer = await register(client)
    to_owner = await client.post(
        f"/organizations/{org.id}/members", headers=manager.headers, json={"email": newcomer.email, "role": "owner"}
    )
    assert_problem(to_owner, 403, "forbidden")
    demote_owner = await client.post(
        f"/organizations/{org.id}/members", headers=manager.headers, json={"email": org.owner.email, "role": "staff"}
    )
    assert_problem(demote_owner, 403, "forbidden")
    ok = await client.post(
        f"/organizations/{org.id}/members",
        headers=manager.headers,
        json={"email": newcomer.email, "role": "staff", "title": "officer"},
    )
    assert ok.status_code == 201
    assert ok.json()["title"] == "officer"
    updated = await client.post(
        f"/organizations/{org.id}/members", headers=manager.headers, json={"email": newcomer.email, "role": "manager"}
    )
    assert updated.status_code == 200
    assert updated.json()["role"] == "manager"


async def test_member_of_unknown_email_is_user_not_found(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_org(client, session)
    response = await client.post(
        f"/organizations/{org.id}/members",
        headers=org.owner.headers,
        json={"email": "ghost@example.org", "role": "staff"},
    )
    assert_problem(response, 422, "user_not_found")


async def test_members_list_for_members_only_and_last_owner_stays(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = await create_org(client, session)
    other = await create_org(client, session, name="Other")
    members = (await client.get(f"/organizations/{org.id}/members", headers=org.staff.headers)).json()
    assert {m["role"] for m in members["items"]} == {"owner", "staff"}
    assert_problem(await client.get(f"/organizations/{org.id}/members", headers=other.staff.headers), 403, "forbidden")
    assert_problem(
        await client.delete(f"/organizations/{org.id}/members/{org.owner.id}", headers=org.owner.headers),
        409,
        "last_owner",
    )
    assert (
        await client.delete(f"/organizations/{org.id}/members/{org.staff.id}", headers=org.owner.headers)
    ).status_code == 204
    assert_problem(await client.get(f"/organizations/{org.id}/members", headers=org.staff.headers), 403, "forbidden")


async def test_patch_organization_by_manager_only(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_org(client, session)
    assert_problem(
        await client.patch(f"/organizations/{org.id}", headers=org.staff.headers, json={"name": "X"}), 403, "forbidden"
    )
    response = await client.patch(
        f"/organizations/{org.id}", headers=org.owner.headers, json={"name": "New Hall", "timezone": "Europe/Rome"}
    )
    assert response.json()["name"] == "New Hall"
    assert response.json()["timezone"] == "Europe/Rome"
    assert_problem(await client.get("/organizations/00000000-0000-0000-0000-000000000000"), 404, "not_found")


async def test_concurrent_adds_of_one_member_create_it_once_and_update_it_once(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = await create_org(client, session)
    newcomer = await register(client)
    path = f"/organizations/{org.id}/members"
    responses = await asyncio.gather(
        *(
            client.post(path, headers=org.owner.headers, json={"email": newcomer.email, "role": "staff"})
            for _ in range(4)
        )
    )
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 201], [r.text for r in responses]
    members = (await client.get(path, headers=org.owner.headers)).json()["items"]
    assert [m["role"] for m in members if m["user_id"] == str(newcomer.id)] == ["staff"]
