import asyncio
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.appointments.models import ACTIVE_STATUSES, Appointment
from app.services.appointments.service import REFERENCE_ALPHABET
from tests.factories import ROUND_THE_CLOCK, book, create_org, create_service, future_day, local_slot
from tests.helpers import assert_problem, register


async def test_booking_returns_the_contract_body(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_org(client, session)
    service = await create_service(client, org)
    citizen = await register(client)
    starts_at = local_slot(org.timezone)
    response = await book(client, citizen, service["id"], starts_at, notes="wheelchair access")
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {
        "id", "reference", "service_id", "organization_id", "citizen_id", "patient_id", "staff_id", "starts_at",
        "ends_at", "status", "notes", "reason", "requirements", "checked_in_at", "created_at", "updated_at",
    }  # fmt: skip
    assert body["status"] == "booked"
    assert datetime.fromisoformat(body["starts_at"]) == starts_at
    assert datetime.fromisoformat(body["ends_at"]) == starts_at + timedelta(minutes=30)
    assert len(body["reference"]) == 8
    assert set(body["reference"]) <= set(REFERENCE_ALPHABET)
    assert body["requirements"][0]["name"] == "ID card"
    assert body["requirements"][0]["document_id"] is None


@pytest.mark.parametrize("capacity", [1, 3])
async def test_concurrent_bookings_never_exceed_capacity(
    client: httpx.AsyncClient, session: AsyncSession, capacity: int
) -> None:
    org = await create_org(client, session)
    service = await create_service(client, org, capacity=capacity)
    citizens = [await register(client) for _ in range(8)]
    starts_at = local_slot(org.timezone)
    responses = await asyncio.gather(*(book(client, c, service["id"], starts_at) for c in citizens))
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] * capacity + [409] * (8 - capacity)
    for response in responses:
        if response.status_code == 409:
            assert response.json()["code"] == "slot_full"
    active = await session.scalar(
        select(func.count()).where(Appointment.service_id == service["id"], Appointment.status.in_(ACTIVE_STATUSES))
    )
    assert active == capacity


async def test_full_slot_stays_listed_with_zero_available(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_org(client, session)
    service = await create_service(client, org, capacity=1)
    starts_at = local_slot(org.timezone)
    assert (await book(client, await register(client), service["id"], starts_at)).status_code == 201
    day = starts_at.date().isoformat()
    slots = (await client.get(f"/services/{service['id']}/slots", params={"from": day, "to": day})).json()
    first = next(s for s in slots if datetime.fromisoformat(s["starts_at"]) == starts_at)
    assert first["available"] == 0
    assert first["capacity"] == 1


async def test_overlapping_appointment_of_one_citizen_is_refused(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = await create_org(client, session)
    long_service = await create_service(client, org, duration=60)
    short_service = await create_service(client, org, duration=30)
    citizen = await register(client)
    assert (await book(client, citizen, long_service["id"], local_slot(org.timezone, hour=9))).status_code == 201
    overlapping = await book(client, citizen, short_service["id"], local_slot(org.timezone, hour=9, minute=30))
    assert_problem(overlapping, 409, "overlapping_appointment")
    # The refused booking's statement is undone as a whole: its seat is not held.
    day = local_slot(org.timezone).date().isoformat()
    short_slots = (await client.get(f"/services/{short_service['id']}/slots", params={"from": day, "to": day})).json()
    half_past = next(s for s in short_slots if s["starts_at"].startswith(f"{day}T09:30"))
    assert half_past["available"] == half_past["capacity"]
    adjacent = await book(client, citizen, short_service["id"], local_slot(org.timezone, hour=10))
    assert adjacent.status_code == 201


async def test_concurrent_overlapping_bookings_of_one_citizen_leave_one(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = await create_org(client, session)
    services = [await create_service(client, org, capacity=5) for _ in range(4)]
    citizen = await register(client)
    starts_at = local_slot(org.timezone)
    responses = await asyncio.gather(*(book(client, citizen, s["id"], starts_at) for s in services))
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]
    assert await session.scalar(select(func.count()).where(Appointment.citizen_id == citizen.id)) == 1


@pytest.mark.parametrize(
    ("hour", "minute", "days_ahead"),
    [(9, 10, 3), (13, 0, 3), (9, 0, -1), (9, 0, 800)],
    ids=["off-grid", "closed-hours", "past", "beyond-window"],
)
async def test_time_that_is_not_a_slot_is_slot_unavailable(
    client: httpx.AsyncClient, session: AsyncSession, hour: int, minute: int, days_ahead: int
) -> None:
    org = await create_org(client, session)
    service = await create_service(client, org)
    starts_at = local_slot(org.timezone, days_ahead=days_ahead, hour=hour, minute=minute)
    assert_problem(await book(client, await register(client), service["id"], starts_at), 422, "slot_unavailable")


async def test_closure_and_min_notice_make_slots_unavailable(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_org(client, session)
    service = await create_service(client, org, min_notice=3 * 24 * 60)
    day = future_day(org.timezone, 5)
    closure = await client.post(
        f"/services/{service['id']}/closures",
        headers=org.owner.headers,
        json={"starts_on": day.isoformat(), "ends_on": day.isoformat(), "reason": "Holiday"},
    )
    assert closure.status_code == 201
    citizen = await register(client)
    assert_problem(
        await book(client, citizen, service["id"], local_slot(org.timezone, days_ahead=5)), 422, "slot_unavailable"
    )
    assert_problem(
        await book(client, citizen, service["id"], local_slot(org.timezone, days_ahead=1)), 422, "slot_unavailable"
    )
    assert (await book(client, citizen, service["id"], local_slot(org.timezone, days_ahead=6))).status_code == 201


async def test_naive_datetime_is_422(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_org(client, session)
    service = await create_service(client, org)
    citizen = await register(client)
    naive = local_slot(org.timezone).replace(tzinfo=None).isoformat()
    response = await client.post(
        "/appointments", headers=citizen.headers, json={"service_id": service["id"], "starts_at": naive}
    )
    assert_problem(response, 422, "validation_error")


async def test_booking_an_unknown_service_is_404(client: httpx.AsyncClient) -> None:
    citizen = await register(client)
    response = await book(client, citizen, "00000000-0000-0000-0000-000000000000", local_slot("UTC"))
    assert_problem(response, 404, "not_found")


async def test_booking_needs_a_token(client: httpx.AsyncClient) -> None:
    response = await client.post("/appointments", json={"service_id": "x", "starts_at": "2030-01-01T09:00:00Z"})
    assert_problem(response, 401, "not_authenticated")


async def test_booking_works_in_any_zone_offset_of_the_same_instant(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    org = await create_org(client, session, timezone="America/New_York")
    service = await create_service(client, org)
    starts_at = local_slot(org.timezone).astimezone(ZoneInfo("Asia/Tokyo"))
    response = await book(client, await register(client), service["id"], starts_at)
    assert response.status_code == 201
    assert datetime.fromisoformat(response.json()["starts_at"]) == starts_at


async def test_a_closed_local_day_stays_closed_whatever_offset_the_time_is_written_with(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    """00:30 on a closed day at UTC+14, written at UTC-12, is two calendar days earlier."""
    org = await create_org(client, session, timezone="Pacific/Kiritimati")
    service = await create_service(client, org, weekly=ROUND_THE_CLOCK)
    day = future_day(org.timezone, days_ahead=5)
    closed = await client.post(
        f"/services/{service['id']}/closures",
        headers=org.owner.headers,
        json={"starts_on": day.isoformat(), "ends_on": day.isoformat()},
    )
    assert closed.status_code == 201, closed.text
    far_west = timezone(timedelta(hours=-12))
    on_closed_day = datetime.combine(day, time(0, 30), ZoneInfo(org.timezone)).astimezone(far_west)
    assert on_closed_day.date() == day - timedelta(days=2)
    citizen = await register(client)
    assert_problem(await book(client, citizen, service["id"], on_closed_day), 422, "slot_unavailable")
    next_day = on_closed_day + timedelta(days=1)
    assert (await book(client, citizen, service["id"], next_day)).status_code == 201


def test_references_draw_every_symbol_and_no_other() -> None:
    """`new_reference` maps random bytes onto the alphabet: that is uniform only for 32 symbols."""
    from app.services.appointments.service import REFERENCE_LENGTH, new_reference

    assert len(set(REFERENCE_ALPHABET)) == len(REFERENCE_ALPHABET) == 32
    drawn = [new_reference() for _ in range(500)]
    assert {len(reference) for reference in drawn} == {REFERENCE_LENGTH}
    assert set("".join(drawn)) == set(REFERENCE_ALPHABET)
