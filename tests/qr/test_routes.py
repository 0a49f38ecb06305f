import io
import xml.etree.ElementTree as ET

import httpx
import pytest
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.checkins import service as checkins_service
from app.services.qr import images
from tests.documents.factories import World, create_world
from tests.documents.files import PDF, zip_bytes
from tests.helpers import assert_problem, register_admin
from tests.qr import photos

MIB = 1024 * 1024


@pytest.fixture
async def world(client: httpx.AsyncClient, session: AsyncSession) -> World:
    return await create_world(client, session)


def decoded(png: bytes) -> list[str]:
    return [code.text for code in images.decode(png, max_pixels=10_000_000, qr_only=True)]


async def test_appointment_qr_png_names_the_appointment_and_is_cached(client: httpx.AsyncClient, world: World) -> None:
    checkins_service.appointment_images.clear()
    url = f"/appointments/{world.appointment.id}/qr"
    first = await client.get(url, headers=world.citizen.headers)
    assert first.status_code == 200
    assert first.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(first.content))
    assert image.size == ((33 + 8) * 8,) * 2  # version 4, quiet zone of 4 modules, scale 8
    (token,) = decoded(first.content)
    assert token.startswith("QL1.")
    assert str(world.appointment.id) not in token
    assert world.appointment.reference not in token
    second = await client.get(url, headers=world.staff.headers)
    assert second.content == first.content
    assert checkins_service.appointment_images.hits == 1
    assert checkins_service.appointment_images.misses == 1
    not_modified = await client.get(url, headers={**world.citizen.headers, "If-None-Match": first.headers["etag"]})
    assert not_modified.status_code == 304


async def test_appointment_qr_svg_and_scale(client: httpx.AsyncClient, world: World) -> None:
    response = await client.get(
        f"/appointments/{world.appointment.id}/qr", params={"format": "svg", "scale": 3}, headers=world.citizen.headers
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(response.content)
    assert root.attrib["width"] == str((33 + 8) * 3)
    for bad in ({"scale": 0}, {"scale": 21}, {"format": "gif"}):
        response = await client.get(
            f"/appointments/{world.appointment.id}/qr", params=bad, headers=world.citizen.headers
        )
        assert_problem(response, 422, "validation_error")


async def test_appointment_qr_is_for_owner_staff_and_admin_only(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    url = f"/appointments/{world.appointment.id}/qr"
    admin = await register_admin(client, session)
    assert (await client.get(url, headers=admin.headers)).status_code == 200
    for outsider in (world.other_citizen, world.other_staff):
        assert_problem(await client.get(url, headers=outsider.headers), 404, "not_found")
    assert_problem(await client.get(url), 401, "not_authenticated")


async def test_qr_of_any_text(client: httpx.AsyncClient, world: World) -> None:
    response = await client.post("/qr", json={"text": "https://queueless.dev/desk/7"}, headers=world.citizen.headers)
    assert response.status_code == 200
    assert decoded(response.content) == ["https://queueless.dev/desk/7"]
    svg = await client.post("/qr", json={"text": "hello", "format": "svg", "scale": 2}, headers=world.citizen.headers)
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert_problem(await client.post("/qr", json={"text": "hello"}), 401, "not_authenticated")
    for bad in ({"text": ""}, {"text": "x" * 1001}, {"text": "x", "scale": 50}, {"text": "x", "colour": "red"}):
        assert_problem(await client.post("/qr", json=bad, headers=world.citizen.headers), 422, "validation_error")
    too_long = await client.post("/qr", json={"text": "€" * 1000}, headers=world.citizen.headers)
    assert_problem(too_long, 422, "text_too_long")


async def test_decode_lists_every_code(client: httpx.AsyncClient, world: World) -> None:
    first = (await client.post("/qr", json={"text": "first"}, headers=world.citizen.headers)).content
    second = (await client.post("/qr", json={"text": "second"}, headers=world.citizen.headers)).content
    sheet = Image.new("RGB", (900, 400), "white")
    sheet.paste(Image.open(io.BytesIO(first)), (10, 10))
    sheet.paste(Image.open(io.BytesIO(second)), (500, 10))
    photo = photos.jpeg(sheet, quality=70)
    response = await client.post(
        "/qr/decode", files={"file": ("sheet.jpg", photo, "image/jpeg")}, headers=world.citizen.headers
    )
    assert response.status_code == 200
    codes = response.json()["codes"]
    assert sorted(codes, key=lambda c: c["text"]) == [
        {"text": "first", "format": "QRCode"},
        {"text": "second", "format": "QRCode"},
    ]


async def test_decode_errors(client: httpx.AsyncClient, world: World) -> None:
    blank = photos.jpeg(Image.new("RGB", (300, 200), "white"))
    response = await client.post("/qr/decode", files={"file": ("a.jpg", blank)}, headers=world.citizen.headers)
    assert response.json() == {"codes": []}
    for name, content in (("a.png", zip_bytes()), ("a.png", PDF)):
        response = await client.post(
            "/qr/decode", files={"file": (name, content, "image/png")}, headers=world.citizen.headers
        )
        assert_problem(response, 415, "unsupported_media_type")
    bomb = photos.png_header_only(20_000, 20_000)
    response = await client.post("/qr/decode", files={"file": ("bomb.png", bomb)}, headers=world.citizen.headers)
    assert_problem(response, 413, "payload_too_large")
    big = b"\x89PNG\r\n\x1a\n" + b"\0" * (11 * MIB)
    response = await client.post("/qr/decode", files={"file": ("big.png", big)}, headers=world.citizen.headers)
    assert_problem(response, 413, "payload_too_large")
    assert_problem(await client.post("/qr/decode", files={"file": ("a.jpg", blank)}), 401, "not_authenticated")
