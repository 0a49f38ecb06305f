"""Milestones, the project's progress, and progress updates with photos told to its buyers."""

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import realtime
from app.core.dependencies import get_settings_dep
from app.core.settings import Settings
from app.services.documents.dependencies import Stores
from app.services.notifications.models import Notification
from app.services.property_media.dependencies import build_media_stores
from tests.conftest import _libpq
from tests.documents.files import image_bytes
from tests.factories import Org
from tests.helpers import Account, assert_problem, register
from tests.properties.factories import (
    book,
    create_builder,
    create_plan,
    create_project,
    create_unit,
    hold,
)

PNG = image_bytes("PNG")
JPEG = image_bytes("JPEG")


@pytest.fixture
def stores(settings: Settings) -> Stores:
    return build_media_stores(settings)


def files_on_disk(stores: Stores) -> list[Path]:
    roots = [stores.staging.root, Path(getattr(stores.storage, "root"))]  # noqa: B009
    return [path for root in roots if root.exists() for path in root.rglob("*") if path.is_file()]


@pytest.fixture(autouse=True)
def _empty_uploads(stores: Stores) -> None:
    for path in files_on_disk(stores):
        path.unlink()


async def buy(
    client: httpx.AsyncClient, org: Org, project: dict[str, Any], plan: dict[str, Any], buyer: Account
) -> str:
    unit = await create_unit(client, org, project["id"])
    held = await hold(client, buyer, unit["id"])
    assert held.status_code == 201, held.text
    booked = await book(client, buyer, held.json()["id"], plan["id"])
    assert booked.status_code == 201, booked.text
    return str(booked.json()["id"])


async def post_update(
    client: httpx.AsyncClient,
    account: Account,
    project_id: str,
    *,
    files: list[tuple[str, bytes, str]] = (),
    **fields: Any,
) -> httpx.Response:
    """Always multipart (as browsers send a FormData), photos or not."""
    data = {"body": "The third floor slab is poured.", **{k: str(v) for k, v in fields.items()}}
    parts: list[tuple[str, Any]] = [(name, (None, value)) for name, value in data.items()]
    parts += [("files", file) for file in files]
    return await client.post(f"/projects/{project_id}/progress-updates", headers=account.headers, files=parts)


@pytest.fixture
async def live(database_url: str) -> AsyncIterator[list[dict[str, Any]]]:
    """Every frame the realtime hub sends while the test runs."""
    frames: list[dict[str, Any]] = []
    listener = await asyncpg.connect(_libpq(database_url))
    await listener.add_listener(realtime.CHANNEL, lambda *args: frames.append(json.loads(args[-1])))
    yield frames
    await listener.close()


async def test_a_progress_update_reaches_each_active_buyer_exactly_once_and_nobody_else(
    client: httpx.AsyncClient, session: AsyncSession, live: list[dict[str, Any]]
) -> None:
    org = await create_builder(client, session)
    project = await create_project(client, org)
    plan = await create_plan(client, org, project["id"])
    other_project = await create_project(client, org, name="Elsewhere")
    other_plan = await create_plan(client, org, other_project["id"])

    two_units = await register(client, full_name="Two Units")  # two active bookings, one notification
    await buy(client, org, project, plan, two_units)
    await buy(client, org, project, plan, two_units)
    sold = await register(client, full_name="Sold Buyer")
    sold_booking = await buy(client, org, project, plan, sold)
    paid = await client.post(
        f"/bookings/{sold_booking}/payments",
        headers=org.staff.headers,
        json={"amount": "30000.00", "paid_on": "2026-01-05", "method": "card"},
    )
    assert paid.status_code == 201, paid.text
    assert (await client.post(f"/bookings/{sold_booking}/confirm", headers=org.staff.headers)).json()[
        "status"
    ] == "sold"
    cancelled = await register(client, full_name="Cancelled Buyer")
    cancelled_booking = await buy(client, org, project, plan, cancelled)
    assert (
        await client.post(f"/bookings/{cancelled_booking}/cancel", headers=cancelled.headers, json={})
    ).status_code == 200
    elsewhere = await register(client, full_name="Other Project Buyer")
    await buy(client, org, other_project, other_plan, elsewhere)
    holding = await register(client, full_name="Only Holding")
    unit = await create_unit(client, org, project["id"])
    assert (await hold(client, holding, unit["id"])).status_code == 201

    live.clear()
    response = await post_update(client, org.staff, project["id"], files=[("slab.png", PNG, "image/png")])
    assert response.status_code == 201, response.text
    update = response.json()
    assert update["author_id"] == str(org.staff.id)
    assert [p["content_type"] for p in update["photos"]] == ["image/png"]

    rows = (await session.execute(select(Notification).where(Notification.kind == "progress_update"))).scalars().all()
    assert sorted(row.user_id for row in rows) == sorted([two_units.id, sold.id])
    for row in rows:
        assert row.data == {"project_id": project["id"], "progress_update_id": update["id"]}
    # The same, live: one frame per buyer through the realtime hub, none for anyone else.
    for _ in range(50):
        frames = [f for f in live if f.get("f", {}).get("notification", {}).get("kind") == "progress_update"]
        if len(frames) >= 2:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    frames = [f for f in live if f.get("f", {}).get("notification", {}).get("kind") == "progress_update"]
    recipients = sorted(user for frame in frames for user in frame["u"])
    assert recipients == sorted([str(two_units.id), str(sold.id)])

    # They (and staff) read it and its photo; the others may not.
    for reader in (two_units, sold, org.staff):
        listing = await client.get(f"/projects/{project['id']}/progress-updates", headers=reader.headers)
        assert [u["id"] for u in listing.json()["items"]] == [update["id"]]
    photo_url = f"/progress-updates/{update['id']}/photos/{update['photos'][0]['id']}"
    photo = await client.get(photo_url, headers=sold.headers)
    assert photo.status_code == 200
    assert photo.headers["content-type"] == "image/png"
    assert photo.content == PNG
    for outsider in (cancelled, elsewhere, holding):
        assert_problem(
            await client.get(f"/projects/{project['id']}/progress-updates", headers=outsider.headers), 403, "forbidden"
        )
        assert_problem(await client.get(photo_url, headers=outsider.headers), 403, "forbidden")


async def test_an_update_sets_its_milestones_percent(client: httpx.AsyncClient, session: AsyncSession) -> None:
    org = await create_builder(client, session)
    project = await create_project(client, org)
    other = await create_project(client, org, name="Other")
    milestone = (
        await client.post(f"/projects/{project['id']}/milestones", headers=org.staff.headers, json={"name": "Frame"})
    ).json()
    foreign = (
        await client.post(f"/projects/{other['id']}/milestones", headers=org.staff.headers, json={"name": "X"})
    ).json()
    response = await post_update(client, org.staff, project["id"], milestone_id=milestone["id"], percent_complete=40)
    assert response.status_code == 201, response.text
    assert response.json()["milestone_id"] == milestone["id"]
    assert (await client.get(f"/projects/{project['id']}")).json()["progress_percent"] == 40
    assert_problem(
        await post_update(client, org.staff, project["id"], milestone_id=foreign["id"]), 422, "validation_error"
    )
    assert_problem(await post_update(client, org.staff, project["id"], percent_complete=50), 422, "validation_error")
    stranger = await register(client)
    assert_problem(await post_update(client, stranger, project["id"]), 403, "forbidden")


async def test_refused_photos_leave_nothing_on_disk(
    client: httpx.AsyncClient, session: AsyncSession, app: FastAPI, settings: Settings, stores: Stores
) -> None:
    org = await create_builder(client, session)
    project = await create_project(client, org)
    good = ("a.png", PNG, "image/png")

    # A text file renamed .jpg, after a good photo: 415, and the good one is gone too.
    renamed = ("b.jpg", b"just some text, not a photo at all", "image/jpeg")
    assert_problem(
        await post_update(client, org.staff, project["id"], files=[good, renamed]), 415, "unsupported_media_type"
    )
    assert files_on_disk(stores) == []

    # A body of 5,001 characters (5,000 of three-byte characters are fine): 422.
    long_body = await post_update(client, org.staff, project["id"], files=[good], body="€" * 5001)
    assert_problem(long_body, 422, "validation_error")
    assert files_on_disk(stores) == []
    fits = await post_update(client, org.staff, project["id"], body="€" * 5000)
    assert fits.status_code == 201, fits.text

    # Eleven photos: 422.
    many = await post_update(client, org.staff, project["id"], files=[good] * 11)
    assert_problem(many, 422, "validation_error")
    assert files_on_disk(stores) == []

    # No body: 422 after the photos arrived; they go.
    no_body = await client.post(
        f"/projects/{project['id']}/progress-updates", headers=org.staff.headers, files=[("files", good)]
    )
    assert_problem(no_body, 422, "validation_error")
    assert files_on_disk(stores) == []

    # Past the size limit: 413 while streaming.
    small = settings.model_copy(update={"max_upload_bytes": 64 * 1024})
    app.dependency_overrides[get_settings_dep] = lambda: small
    try:
        big = ("big.png", PNG + b"\0" * (200 * 1024), "image/png")
        assert_problem(await post_update(client, org.staff, project["id"], files=[good, big]), 413, "payload_too_large")
    finally:
        app.dependency_overrides.pop(get_settings_dep, None)
    assert files_on_disk(stores) == []

    # A good one is kept: exactly its photos are on disk.
    ok = await post_update(client, org.staff, project["id"], files=[good, ("c.jpg", JPEG, "image/jpeg")])
    assert ok.status_code == 201, ok.text
    assert [p["filename"] for p in ok.json()["photos"]] == ["a.png", "c.jpg"]
    assert len(files_on_disk(stores)) == 2
    assert not any(path.is_relative_to(stores.staging.root) for path in files_on_disk(stores))
