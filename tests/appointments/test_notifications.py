import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from tests.factories import book, create_org, create_service, local_slot
from tests.helpers import register


async def _kinds(client: httpx.AsyncClient, headers: dict[str, str]) -> list[str]:
    body = (await client.get("/notifications", headers=headers)).json()
    return sorted(item["kind"] for item in body["items"])


async def test_booking_and_staff_cancel_are_announced_to_the_citizen(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = await create_org(client, session)
    service = await create_service(client, org)
    citizen = await register(client)
    appointment = (await book(client, citizen, service["id"], local_slot(org.timezone))).json()
    assert await _kinds(client, citizen.headers) == ["appointment_booked"]
    await client.post(f"/appointments/{appointment['id']}/cancel", headers=org.staff.headers, json={"reason": "closed"})
    items = (await client.get("/notifications", headers=citizen.headers)).json()["items"]
    cancelled = next(i for i in items if i["kind"] == "appointment_cancelled")
    assert cancelled["data"]["appointment_id"] == appointment["id"]
    assert cancelled["data"]["actor_id"] == str(org.staff.id)
    assert await _kinds(client, org.staff.headers) == []


async def test_a_failed_booking_announces_nothing(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_org(client, session)
    service = await create_service(client, org, capacity=1)
    starts_at = local_slot(org.timezone)
    await book(client, await register(client), service["id"], starts_at)
    loser = await register(client)
    assert (await book(client, loser, service["id"], starts_at)).status_code == 409
    assert await _kinds(client, loser.headers) == []


async def test_reschedule_is_announced(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_org(client, session)
    service = await create_service(client, org)
    citizen = await register(client)
    appointment = (await book(client, citizen, service["id"], local_slot(org.timezone))).json()
    await client.post(
        f"/appointments/{appointment['id']}/reschedule",
        headers=citizen.headers,
        json={"starts_at": local_slot(org.timezone, hour=10).isoformat()},
    )
    assert await _kinds(client, citizen.headers) == ["appointment_booked", "appointment_rescheduled"]
