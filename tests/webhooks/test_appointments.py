"""`appointment.booked` and `appointment.cancelled`: written with the booking (in its statement) and
with every move to `cancelled`, delivered signed with the appointment as staff read it; nothing for
an organization without a listening subscription, nor for another organization's."""

import json
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.webhooks import workers as webhooks_workers
from app.services.webhooks.models import WebhookDelivery, WebhookEvent
from tests.apikeys.test_routes import create_key, key_headers
from tests.factories import Org, book, create_org, create_service, local_slot
from tests.helpers import assert_problem, register
from tests.patients.factories import create_clinic, create_patient
from tests.webhooks.receiver import receiving
from tests.webhooks.test_webhooks import sessionmaker_of, verify

EVENTS = ["appointment.booked", "appointment.cancelled"]


async def subscribe(client: httpx.AsyncClient, org: Org, url: str, events: list[str] = EVENTS) -> dict[str, Any]:
    response = await client.post(
        f"/organizations/{org.id}/webhooks", headers=org.owner.headers, json={"url": url, "events": events}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def events_of(session: AsyncSession, organization_id: uuid.UUID) -> list[tuple[str, dict[str, Any]]]:
    rows = await session.execute(
        select(WebhookEvent.type, WebhookEvent.data)
        .where(WebhookEvent.organization_id == organization_id)
        .order_by(WebhookEvent.created_at, WebhookEvent.type)
    )
    return [(row.type, row.data) for row in rows]


async def deliveries_of(client: httpx.AsyncClient, org: Org, webhook: dict[str, Any]) -> list[str]:
    response = await client.get(f"/webhooks/{webhook['id']}/deliveries", headers=org.owner.headers)
    assert response.status_code == 200, response.text
    return sorted(item["event_type"] for item in response.json()["items"])


async def staff_read(client: httpx.AsyncClient, org: Org, appointment_id: str) -> dict[str, Any]:
    response = await client.get(f"/appointments/{appointment_id}", headers=org.staff.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_a_subscription_receives_the_booking_and_the_cancellation(
    client: httpx.AsyncClient, session: AsyncSession, app: FastAPI
) -> None:
    org = await create_org(client, session)
    other = await create_org(client, session, name="Town Hall")
    service = await create_service(client, org)
    citizen = await register(client)
    async with receiving() as receiver:
        webhook = await subscribe(client, org, receiver.url)
        elsewhere = await subscribe(client, other, receiver.url)
        booked = await book(client, citizen, service["id"], local_slot(org.timezone), notes="Bring the old one")
        assert booked.status_code == 201, booked.text
        appointment_id = booked.json()["id"]
        at_booking = await staff_read(client, org, appointment_id)
        cancelled = await client.post(
            f"/appointments/{appointment_id}/cancel", headers=citizen.headers, json={"reason": "ill"}
        )
        assert cancelled.status_code == 200, cancelled.text
        at_cancel = await staff_read(client, org, appointment_id)
        assert await webhooks_workers.deliver_once(sessionmaker_of(app), settings=app.state.settings) == 2

    bodies = {json.loads(item.body)["type"]: json.loads(item.body) for item in receiver.received}
    assert set(bodies) == set(EVENTS)
    for item in receiver.received:
        assert verify(webhook["secret"], item.headers["x-queueless-signature"], item.body)
    booking = bodies["appointment.booked"]
    assert set(booking) == {"id", "type", "created_at", "organization_id", "data"}
    assert booking["organization_id"] == str(org.id)
    assert booking["data"] == {"appointment": at_booking}
    assert booking["data"]["appointment"]["requirements"][0]["name"] == "ID card"
    cancellation = bodies["appointment.cancelled"]
    assert cancellation["data"] == {"appointment": at_cancel, "reason": "ill"}
    assert cancellation["data"]["appointment"]["status"] == "cancelled"
    assert await deliveries_of(client, org, webhook) == EVENTS
    assert await deliveries_of(client, other, elsewhere) == []
    assert await events_of(session, other.id) == []


async def _count(session: AsyncSession, model: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_no_listening_subscription_writes_no_rows(
    client: httpx.AsyncClient, session: AsyncSession, app: FastAPI
) -> None:
    quiet = await create_org(client, session)  # no webhooks at all
    deaf = await create_org(client, session, name="Deaf Hall")  # ticket events only, and a paused one
    await subscribe(client, deaf, "http://127.0.0.1:9/hook", ["ticket.created"])
    paused = await subscribe(client, deaf, "http://127.0.0.1:9/hook")
    assert (
        await client.patch(f"/webhooks/{paused['id']}", headers=deaf.owner.headers, json={"active": False})
    ).status_code == 200
    before = (await _count(session, WebhookEvent), await _count(session, WebhookDelivery))
    for org in (quiet, deaf):
        service = await create_service(client, org)
        citizen = await register(client)
        booked = await book(client, citizen, service["id"], local_slot(org.timezone))
        assert booked.status_code == 201, booked.text
        cancel = await client.post(f"/appointments/{booked.json()['id']}/cancel", headers=org.staff.headers, json={})
        assert cancel.status_code == 200, cancel.text
    assert (await _count(session, WebhookEvent), await _count(session, WebhookDelivery)) == before


async def test_a_refused_booking_publishes_nothing(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_org(client, session)
    service = await create_service(client, org, capacity=1)
    await subscribe(client, org, "http://127.0.0.1:9/hook")
    starts_at = local_slot(org.timezone)
    assert (await book(client, await register(client), service["id"], starts_at)).status_code == 201
    assert_problem(await book(client, await register(client), service["id"], starts_at), 409, "slot_full")
    assert [type_ for type_, _ in await events_of(session, org.id)] == ["appointment.booked"]


@pytest.mark.parametrize("by", ["staff", "api_key"])
async def test_every_move_to_cancelled_is_published_and_no_show_is_not(
    client: httpx.AsyncClient, session: AsyncSession, by: str
) -> None:
    org = await create_org(client, session)
    service = await create_service(client, org)
    webhook = await subscribe(client, org, "http://127.0.0.1:9/hook")
    first, second = [
        (await book(client, await register(client), service["id"], local_slot(org.timezone, hour=hour))).json()
        for hour in (9, 10)
    ]
    if by == "staff":
        headers = org.staff.headers
    else:
        headers = key_headers(await create_key(client, org.owner, org.id, ["appointments:write"]))
    move = {"status": "cancelled", "note": "closed for the day"}
    moved = await client.post(f"/appointments/{first['id']}/status", headers=headers, json=move)
    assert moved.status_code == 200, moved.text
    missed = await client.post(f"/appointments/{second['id']}/status", headers=headers, json={"status": "no_show"})
    assert missed.status_code == 200, missed.text
    published = await events_of(session, org.id)
    assert [type_ for type_, _ in published] == ["appointment.booked", "appointment.booked", "appointment.cancelled"]
    assert published[-1][1]["appointment"]["id"] == first["id"]
    assert published[-1][1]["reason"] == "closed for the day"
    assert await deliveries_of(client, org, webhook) == ["appointment.booked"] * 2 + ["appointment.cancelled"]


async def test_a_booking_for_a_patient_without_an_account_is_published(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    clinic = await create_clinic(client, session)
    org = Org(
        id=clinic.id, timezone=clinic.timezone, admin=clinic.admin, owner=clinic.owner, staff=clinic.staff, body={}
    )
    service = await create_service(client, org)
    patient = await create_patient(client, clinic)
    await subscribe(client, org, "http://127.0.0.1:9/hook", ["appointment.booked"])
    booked = await book(client, clinic.staff, service["id"], local_slot(clinic.timezone), patient_id=patient["id"])
    assert booked.status_code == 201, booked.text
    [(type_, data)] = await events_of(session, clinic.id)
    assert type_ == "appointment.booked"
    assert data["appointment"]["patient_id"] == patient["id"]
    assert data["appointment"]["citizen_id"] is None
