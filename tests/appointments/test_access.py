import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import book, create_org, create_service, local_slot
from tests.helpers import assert_problem, register


async def _setup(client: httpx.AsyncClient, session: AsyncSession):  # type: ignore[no-untyped-def]
    org = await create_org(client, session)
    other_org = await create_org(client, session, name="Clinic")
    service = await create_service(client, org)
    citizen = await register(client, full_name="Carla Citizen")
    appointment = (await book(client, citizen, service["id"], local_slot(org.timezone))).json()
    return org, other_org, service, citizen, appointment


async def test_other_citizen_sees_nothing(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org, _, _, _, appointment = await _setup(client, session)
    stranger = await register(client)
    for path in ("", "/history"):
        assert_problem(
            await client.get(f"/appointments/{appointment['id']}{path}", headers=stranger.headers), 404, "not_found"
        )
    assert_problem(
        await client.post(f"/appointments/{appointment['id']}/cancel", headers=stranger.headers, json={}),
        404,
        "not_found",
    )
    reschedule = await client.post(
        f"/appointments/{appointment['id']}/reschedule",
        headers=stranger.headers,
        json={"starts_at": local_slot(org.timezone, hour=10).isoformat()},
    )
    assert_problem(reschedule, 404, "not_found")
    assert (await client.get("/appointments", headers=stranger.headers)).json()["total"] == 0


async def test_other_organizations_staff_sees_and_moves_nothing(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org, other_org, _, _, appointment = await _setup(client, session)
    outsider = other_org.staff
    assert_problem(await client.get(f"/appointments/{appointment['id']}", headers=outsider.headers), 404, "not_found")
    for path, body in (("status", {"status": "no_show"}), ("assign", {"staff_id": str(outsider.id)}), ("cancel", {})):
        response = await client.post(f"/appointments/{appointment['id']}/{path}", headers=outsider.headers, json=body)
        assert_problem(response, 404, "not_found")
    queue = await client.get(f"/organizations/{org.id}/appointments", headers=outsider.headers)
    assert_problem(queue, 403, "forbidden")


async def test_citizen_cannot_change_status_of_own_appointment(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    _, _, _, citizen, appointment = await _setup(client, session)
    response = await client.post(
        f"/appointments/{appointment['id']}/status", headers=citizen.headers, json={"status": "checked_in"}
    )
    # The owner can see the appointment, so this is "not allowed", not "not found".
    assert_problem(response, 403, "forbidden")


async def test_staff_and_admin_see_the_appointment(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org, _, _, _, appointment = await _setup(client, session)
    for account in (org.staff, org.owner, org.admin):
        assert (await client.get(f"/appointments/{appointment['id']}", headers=account.headers)).status_code == 200


async def test_unknown_fields_cannot_set_status(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org, _, service, citizen, _ = await _setup(client, session)
    response = await client.post(
        "/appointments",
        headers=citizen.headers,
        json={
            "service_id": service["id"],
            "starts_at": local_slot(org.timezone, hour=10).isoformat(),
            "status": "completed",
        },
    )
    assert_problem(response, 422, "validation_error")


async def test_citizen_list_is_own_filtered_and_paged(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org, _, service, citizen, first = await _setup(client, session)
    second = (await book(client, citizen, service["id"], local_slot(org.timezone, days_ahead=4))).json()
    await client.post(f"/appointments/{first['id']}/cancel", headers=citizen.headers, json={})
    await book(client, await register(client), service["id"], local_slot(org.timezone, hour=10))
    everything = (await client.get("/appointments", headers=citizen.headers, params={"size": 1})).json()
    assert everything["total"] == 2
    assert everything["pages"] == 2
    assert everything["items"][0]["id"] == second["id"]  # latest first
    booked = (await client.get("/appointments", headers=citizen.headers, params={"status": "booked"})).json()
    assert [a["id"] for a in booked["items"]] == [second["id"]]
    day = local_slot(org.timezone, days_ahead=4).date().isoformat()
    by_day = (await client.get("/appointments", headers=citizen.headers, params={"from": day, "to": day})).json()
    assert [a["id"] for a in by_day["items"]] == [second["id"]]
    past_the_end = (await client.get("/appointments", headers=citizen.headers, params={"size": 1, "page": 9})).json()
    assert past_the_end["items"] == []
    assert past_the_end["total"] == 2


async def test_reads_refuse_a_login_that_has_ended(client: httpx.AsyncClient, session: AsyncSession) -> None:
    """The hot reads check the login inside their own statement: a logout ends them at once."""
    _, _, _, citizen, appointment = await _setup(client, session)
    assert (await client.get(f"/appointments/{appointment['id']}", headers=citizen.headers)).status_code == 200
    assert (await client.post("/auth/logout", json={"refresh_token": citizen.refresh_token})).status_code == 204
    for path in (f"/appointments/{appointment['id']}", "/appointments"):
        assert_problem(await client.get(path, headers=citizen.headers), 401, "not_authenticated")


async def test_staff_queue_filters_by_day_status_service_and_text(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org, _, _, _, appointment = await _setup(client, session)
    other_service = await create_service(client, org)
    other = await register(client, full_name="Bruno Bystander")
    await book(client, other, other_service["id"], local_slot(org.timezone, days_ahead=4))
    headers = org.staff.headers
    day = local_slot(org.timezone).date().isoformat()
    by_day = (await client.get(f"/organizations/{org.id}/appointments", headers=headers, params={"date": day})).json()
    assert [a["id"] for a in by_day["items"]] == [appointment["id"]]
    assert by_day["items"][0]["citizen_name"] == "Carla Citizen"
    by_service = (
        await client.get(
            f"/organizations/{org.id}/appointments", headers=headers, params={"service_id": other_service["id"]}
        )
    ).json()
    assert by_service["total"] == 1
    by_name = (await client.get(f"/organizations/{org.id}/appointments", headers=headers, params={"q": "bruno"})).json()
    assert by_name["total"] == 1
    by_reference = (
        await client.get(
            f"/organizations/{org.id}/appointments", headers=headers, params={"q": appointment["reference"].lower()}
        )
    ).json()
    assert [a["id"] for a in by_reference["items"]] == [appointment["id"]]
    cancelled = (
        await client.get(f"/organizations/{org.id}/appointments", headers=headers, params={"status": "cancelled"})
    ).json()
    assert cancelled["total"] == 0
