import asyncio
import json

import asyncpg
import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import realtime
from app.services.notifications.models import Notification, OutboxEmail
from tests.conftest import _libpq
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


async def test_a_booking_stores_its_email_and_sends_its_frame_live(
    client: httpx.AsyncClient, session: AsyncSession, database_url: str
) -> None:
    org = await create_org(client, session)
    service = await create_service(client, org)
    citizen = await register(client)
    received: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(_libpq(database_url))
    try:
        await listener.add_listener(realtime.CHANNEL, lambda *args: received.put_nowait(args[-1]))
        appointment = (await book(client, citizen, service["id"], local_slot(org.timezone))).json()
        payload = json.loads(await asyncio.wait_for(received.get(), timeout=5))
    finally:
        await listener.close()
    notification = await session.scalar(select(Notification).where(Notification.user_id == citizen.id))
    assert notification is not None
    assert notification.data["reference"] == appointment["reference"]
    assert payload["u"] == [str(citizen.id)]
    assert payload["f"]["notification"]["id"] == str(notification.id)
    assert payload["f"]["notification"]["title"] == notification.title
    mail = await session.scalar(select(OutboxEmail).where(OutboxEmail.notification_id == notification.id))
    assert mail is not None
    assert mail.to_address == citizen.email
    assert appointment["reference"] in mail.body
    assert mail.status == "pending"
