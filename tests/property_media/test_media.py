"""Project media: glTF binary models and images, checked by their content, stored, served, removed."""

import struct
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.dependencies import get_settings_dep
from app.core.settings import Settings
from app.services.construction import storage as construction_storage
from app.services.construction.models import ProgressPhoto
from app.services.documents.dependencies import Stores, sweep
from app.services.documents.storage import Staged, new_key
from app.services.property_media.dependencies import build_media_stores
from app.services.property_media.models import ProjectMedia
from tests.documents.files import image_bytes
from tests.documents.processes import dead_process
from tests.factories import Org
from tests.helpers import Account, assert_problem, register
from tests.properties.factories import create_builder, create_project, create_unit


def glb(payload: bytes = b'{"asset":{"version":"2.0"}}   ', *, version: int = 2, length: int | None = None) -> bytes:
    """A glTF binary: a 12-byte header and one JSON chunk."""
    chunk = struct.pack("<I4s", len(payload), b"JSON") + payload
    total = 12 + len(chunk)
    return struct.pack("<4sII", b"glTF", version, total if length is None else length) + chunk


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


@pytest.fixture
async def org(client: httpx.AsyncClient, session: AsyncSession) -> Org:
    return await create_builder(client, session)


async def upload(
    client: httpx.AsyncClient,
    account: Account,
    project_id: str,
    content: bytes,
    *,
    filename: str = "tower.glb",
    content_type: str = "application/octet-stream",
    **fields: Any,
) -> httpx.Response:
    return await client.post(
        f"/projects/{project_id}/media",
        headers=account.headers,
        files={"file": (filename, content, content_type)},
        data={k: str(v) for k, v in fields.items()},
    )


async def test_a_valid_glb_is_a_model_served_as_gltf_binary(
    client: httpx.AsyncClient, org: Org, stores: Stores
) -> None:
    project = await create_project(client, org)
    unit = await create_unit(client, org, project["id"])
    content = glb()
    response = await upload(client, org.staff, project["id"], content, unit_id=unit["id"], title="Unit 3D")
    assert response.status_code == 201, response.text
    media = response.json()
    assert media["kind"] == "model"
    assert media["content_type"] == "model/gltf-binary"
    assert (media["unit_id"], media["title"], media["size"]) == (unit["id"], "Unit 3D", len(content))
    assert media["filename"] == "tower.glb"
    assert len(files_on_disk(stores)) == 1

    downloaded = await client.get(f"/media/{media['id']}/content")  # public
    assert downloaded.status_code == 200
    assert downloaded.headers["content-type"] == "model/gltf-binary"
    assert downloaded.content == content
    assert downloaded.headers["x-content-type-options"] == "nosniff"

    png = image_bytes("PNG")
    image = (await upload(client, org.staff, project["id"], png, filename="lobby.png")).json()
    assert (image["kind"], image["content_type"]) == ("image", "image/png")
    shown = await client.get(f"/media/{image['id']}/content")
    assert (shown.headers["content-type"], shown.content) == ("image/png", png)

    listing = (await client.get(f"/projects/{project['id']}/media")).json()
    assert [m["id"] for m in listing["items"]] == [image["id"], media["id"]]
    models = (await client.get(f"/projects/{project['id']}/media", params={"kind": "model"})).json()
    assert [m["id"] for m in models["items"]] == [media["id"]]
    of_unit = (await client.get(f"/projects/{project['id']}/media", params={"unit_id": unit["id"]})).json()
    assert [m["id"] for m in of_unit["items"]] == [media["id"]]


@pytest.mark.parametrize(
    ("content", "filename"),
    [
        (glb()[:-7], "truncated.glb"),  # the header declares more than arrives
        (glb(length=10_000), "lying.glb"),
        (glb() + b"\0" * 8, "padded.glb"),  # more than the header declares
        (glb(version=1), "old.glb"),
        (b"solid cube\nfacet normal 0 0 1\n" * 4, "cube.glb"),  # a text file renamed
        (b"glTF", "tiny.glb"),
        (b"", "empty.glb"),
    ],
)
async def test_anything_but_a_whole_glb_or_an_image_is_refused_and_nothing_is_kept(
    client: httpx.AsyncClient, org: Org, stores: Stores, content: bytes, filename: str
) -> None:
    project = await create_project(client, org)
    response = await upload(
        client, org.staff, project["id"], content, filename=filename, content_type="model/gltf-binary"
    )
    assert_problem(response, 415, "unsupported_media_type")
    assert files_on_disk(stores) == []
    assert (await client.get(f"/projects/{project['id']}/media")).json()["total"] == 0


async def test_an_oversized_file_is_cut_off_with_413_and_nothing_is_kept(
    client: httpx.AsyncClient, org: Org, stores: Stores, app: FastAPI, settings: Settings
) -> None:
    project = await create_project(client, org)
    small = settings.model_copy(update={"max_upload_bytes": 64 * 1024})
    app.dependency_overrides[get_settings_dep] = lambda: small
    try:
        big = glb(b" " * (200 * 1024))
        assert_problem(await upload(client, org.staff, project["id"], big), 413, "payload_too_large")
    finally:
        app.dependency_overrides.pop(get_settings_dep, None)
    assert files_on_disk(stores) == []


async def test_a_model_of_an_unpublished_project_is_hidden_from_the_public(
    client: httpx.AsyncClient, org: Org, stores: Stores
) -> None:
    draft = await create_project(client, org, published=False)
    media = (await upload(client, org.staff, draft["id"], glb())).json()
    stranger = await register(client)
    for headers in ({}, stranger.headers):
        assert_problem(await client.get(f"/media/{media['id']}/content", headers=headers), 404, "not_found")
        assert_problem(await client.get(f"/projects/{draft['id']}/media", headers=headers), 404, "not_found")
    assert (await client.get(f"/media/{media['id']}/content", headers=org.staff.headers)).status_code == 200
    # Published, it is public.
    await client.patch(f"/projects/{draft['id']}", headers=org.staff.headers, json={"published": True})
    assert (await client.get(f"/media/{media['id']}/content")).status_code == 200


async def test_staff_upload_and_delete_others_may_not(
    client: httpx.AsyncClient, session: AsyncSession, org: Org, stores: Stores
) -> None:
    project = await create_project(client, org)
    other = await create_builder(client, session)
    other_project = await create_project(client, other)
    foreign_unit = await create_unit(client, other, other_project["id"])
    stranger = await register(client)
    assert_problem(await upload(client, stranger, project["id"], glb()), 403, "forbidden")
    assert_problem(await upload(client, other.staff, project["id"], glb()), 403, "forbidden")
    wrong_unit = await upload(client, org.staff, project["id"], glb(), unit_id=foreign_unit["id"])
    assert_problem(wrong_unit, 422, "validation_error")
    assert files_on_disk(stores) == []

    media = (await upload(client, org.staff, project["id"], glb())).json()
    assert_problem(await client.delete(f"/media/{media['id']}", headers=stranger.headers), 403, "forbidden")
    assert len(files_on_disk(stores)) == 1
    assert (await client.delete(f"/media/{media['id']}", headers=org.staff.headers)).status_code == 204
    assert files_on_disk(stores) == []
    assert_problem(await client.get(f"/media/{media['id']}/content"), 404, "not_found")


async def test_the_startup_sweep_finishes_or_undoes_interrupted_property_uploads(
    app: FastAPI, client: httpx.AsyncClient, org: Org, stores: Stores, session: AsyncSession
) -> None:
    project = await create_project(client, org)
    media = (await upload(client, org.staff, project["id"], glb())).json()
    photo_update = await client.post(
        f"/projects/{project['id']}/progress-updates",
        headers=org.staff.headers,
        files=[("body", (None, "Roof on")), ("files", ("roof.png", image_bytes("PNG"), "image/png"))],
    )
    assert photo_update.status_code == 201, photo_update.text
    root = Path(getattr(stores.storage, "root"))  # noqa: B009
    media_key = await session.scalar(select(ProjectMedia.storage_key).where(ProjectMedia.id == uuid.UUID(media["id"])))
    photo_key = await session.scalar(select(ProgressPhoto.storage_key))
    assert media_key is not None
    assert photo_key is not None
    gone = str(dead_process())
    # Crashes after the commit, before the move: both files still staged, their writer gone.
    staged = []
    for key in (media_key, photo_key):
        path = stores.staging.path(Staged(key, gone))
        path.parent.mkdir(parents=True, exist_ok=True)
        (root / key[:2] / key).replace(path)
        staged.append(path)
    # A crash before the commit, and a stored file whose row is gone.
    orphan = stores.staging.path(Staged(new_key(), gone))
    orphan.write_bytes(b"partial")
    lost = root / "ab" / ("ab" + "0" * 30)
    lost.parent.mkdir(parents=True, exist_ok=True)
    lost.write_bytes(b"deleted")

    changed = await sweep(app.state.sessionmaker, stores, grace_seconds=3600, kept_keys=construction_storage.kept_keys)
    assert changed == 4
    assert not any(path.exists() for path in [*staged, orphan, lost])
    assert (await client.get(f"/media/{media['id']}/content")).content == glb()
    photo = photo_update.json()["photos"][0]
    shown = await client.get(
        f"/progress-updates/{photo_update.json()['id']}/photos/{photo['id']}", headers=org.staff.headers
    )
    assert shown.content == image_bytes("PNG")
