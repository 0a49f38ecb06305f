import io
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from PIL import Image
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.appointments.models import Appointment, AppointmentEvent, Status
from tests.documents.factories import World, create_appointment, create_world
from tests.documents.files import zip_bytes
from tests.helpers import assert_problem, register_admin
from tests.qr import photos


@pytest.fixture
async def world(client: httpx.AsyncClient, session: AsyncSession) -> World:
    return await create_world(client, session)


async def code_of(client: httpx.AsyncClient, world: World, appointment: Appointment | None = None) -> tuple[str, bytes]:
    appointment = appointment or world.appointment
    png = (await client.get(f"/appointments/{appointment.id}/qr", headers=world.citizen.headers)).content
    decoded = await client.post("/qr/decode", files={"file": ("qr.png", png)}, headers=world.citizen.headers)
    return decoded.json()["codes"][0]["text"], png


def phone_photo(png: bytes) -> bytes:
    code = Image.open(io.BytesIO(png))
    return photos.jpeg(
        photos.blurred(photos.tilted(photos.in_noisy_picture(photos.scaled(photos.rotated(code, 12), 0.6))))
    )


async def test_check_in_by_scanned_text_is_idempotent(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    code, _ = await code_of(client, world)
    response = await client.post("/checkins", json={"code": code}, headers=world.staff.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == str(world.appointment.id)
    assert body["status"] == "checked_in"
    assert body["checked_in_at"]
    again = await client.post("/checkins", json={"code": code.lower() + "\n"}, headers=world.staff.headers)
    assert again.status_code == 200
    assert again.json()["checked_in_at"] == body["checked_in_at"]
    events = (
        await session.scalars(select(AppointmentEvent).where(AppointmentEvent.appointment_id == world.appointment.id))
    ).all()
    assert [e.to_status for e in events].count("checked_in") == 1


async def test_check_in_by_phone_photo(client: httpx.AsyncClient, world: World) -> None:
    _, png = await code_of(client, world)
    photo = phone_photo(png)
    response = await client.post("/checkins/scan", files={"file": ("photo.jpg", photo)}, headers=world.staff.headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "checked_in"
    assert response.json()["requirements"][0]["document_id"] is None


async def test_check_in_rules(client: httpx.AsyncClient, session: AsyncSession, world: World) -> None:
    code, _ = await code_of(client, world)
    for outsider in (world.other_staff, world.other_citizen):
        response = await client.post("/checkins", json={"code": code}, headers=outsider.headers)
        assert_problem(response, 404, "not_found")
    # The owner sees the appointment but only staff check it in.
    owner = await client.post("/checkins", json={"code": code}, headers=world.citizen.headers)
    assert_problem(owner, 403, "forbidden")
    assert_problem(await client.post("/checkins", json={"code": code}), 401, "not_authenticated")

    cancelled = await create_appointment(
        session,
        service=world.service,
        citizen_id=world.citizen.id,
        starts_at=datetime.now(UTC) + timedelta(hours=1),
        status=Status.cancelled,
    )
    cancelled_code, _ = await code_of(client, world, cancelled)
    response = await client.post("/checkins", json={"code": cancelled_code}, headers=world.staff.headers)
    assert_problem(response, 409, "invalid_transition")

    later = await create_appointment(
        session, service=world.service, citizen_id=world.citizen.id, starts_at=datetime.now(UTC) + timedelta(hours=5)
    )
    later_code, _ = await code_of(client, world, later)
    response = await client.post("/checkins", json={"code": later_code}, headers=world.staff.headers)
    assert_problem(response, 409, "checkin_window")

    admin = await register_admin(client, session)
    assert (await client.post("/checkins", json={"code": code}, headers=admin.headers)).status_code == 200


async def test_forged_altered_and_foreign_codes(client: httpx.AsyncClient, world: World) -> None:
    code, _ = await code_of(client, world)
    altered = code[:-3] + ("AAA" if not code.endswith("AAA") else "BBB")
    for bad in (altered, "QL1." + "A" * 45, "hello", "QL2." + code[4:]):
        response = await client.post("/checkins", json={"code": bad}, headers=world.staff.headers)
        assert_problem(response, 422, "invalid_code")
    assert_problem(
        await client.post("/checkins", json={"code": "x" * 201}, headers=world.staff.headers), 422, "validation_error"
    )
    other_qr = (await client.post("/qr", json={"text": "https://example.org"}, headers=world.staff.headers)).content
    response = await client.post("/checkins/scan", files={"file": ("qr.png", other_qr)}, headers=world.staff.headers)
    assert_problem(response, 422, "invalid_code")


async def test_scan_errors(client: httpx.AsyncClient, world: World) -> None:
    blank = photos.jpeg(photos.in_noisy_picture(Image.new("RGB", (50, 50), "white")))
    response = await client.post("/checkins/scan", files={"file": ("a.jpg", blank)}, headers=world.staff.headers)
    assert_problem(response, 422, "no_code_found")
    response = await client.post("/checkins/scan", files={"file": ("a.png", zip_bytes())}, headers=world.staff.headers)
    assert_problem(response, 415, "unsupported_media_type")
    bomb = photos.png_header_only(20_000, 20_000)
    response = await client.post("/checkins/scan", files={"file": ("b.png", bomb)}, headers=world.staff.headers)
    assert_problem(response, 413, "payload_too_large")
    response = await client.post("/checkins/scan", json={"code": "x"}, headers=world.staff.headers)
    assert_problem(response, 415, "unsupported_media_type")
