"""Documents in an S3 bucket (moto's S3 API, over HTTP): upload, download, the after-commit move,
rollbacks, deletion and the start-up sweep."""

import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import obstore
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core import processes
from app.services.documents.dependencies import Stores, sweep
from app.services.documents.models import Document
from app.services.documents.object_storage import ObjectStorage
from app.services.documents.storage import Staged, new_key
from tests.documents.factories import World, create_world
from tests.documents.files import PDF, failing_second_commit, image_bytes
from tests.documents.processes import dead_process
from tests.helpers import assert_problem


def _storage(stores: Stores) -> ObjectStorage:
    assert isinstance(stores.storage, ObjectStorage)
    return stores.storage


async def objects(stores: Stores) -> dict[str, int]:
    """Every object under the storage's prefix, with its size."""
    found: dict[str, int] = {}
    async for batch in obstore.list(_storage(stores).store):
        found.update((meta["path"], meta["size"]) for meta in batch)
    return found


def local_files(stores: Stores) -> list[Path]:
    root = stores.staging.root
    return [path for path in root.rglob("*") if path.is_file()] if root.exists() else []


@pytest.fixture(autouse=True)
async def _empty_bucket(s3_stores: Stores) -> AsyncIterator[None]:
    yield
    names = list(await objects(s3_stores))
    if names:
        await obstore.delete_async(_storage(s3_stores).store, names)
    for path in local_files(s3_stores):
        path.unlink()


@pytest.fixture
async def world(s3_client: httpx.AsyncClient, session: AsyncSession) -> World:
    return await create_world(s3_client, session)


async def upload(client: httpx.AsyncClient, account: Any, content: bytes = PDF, **fields: Any) -> httpx.Response:
    data = {name: str(value) for name, value in fields.items()}
    return await client.post(
        "/documents", files={"file": ("scan.pdf", content, "application/pdf")}, data=data, headers=account.headers
    )


async def _key(session: AsyncSession, document_id: str) -> str:
    document = await session.get(Document, uuid.UUID(document_id))
    assert document is not None
    return document.storage_key


async def count_documents(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Document)) or 0)


async def test_upload_lands_in_the_bucket_and_downloads_from_it(
    s3_client: httpx.AsyncClient, world: World, s3_stores: Stores, session: AsyncSession
) -> None:
    content = PDF + bytes(range(256)) * 4096  # 1 MiB and more: several chunks each way
    response = await upload(s3_client, world.citizen, content, appointment_id=world.appointment.id)
    assert response.status_code == 201, response.text
    key = await _key(session, response.json()["id"])

    assert await objects(s3_stores) == {f"documents/{key}": len(content)}  # nothing staged is left
    assert local_files(s3_stores) == []  # and nothing on this machine's disk
    download = await s3_client.get(f"/documents/{response.json()['id']}/content", headers=world.staff.headers)
    assert download.status_code == 200
    assert download.content == content
    assert download.headers["content-length"] == str(len(content))


async def test_object_is_placed_only_after_its_row_commits(
    s3_app: FastAPI,
    s3_client: httpx.AsyncClient,
    world: World,
    s3_stores: Stores,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[int, dict[str, int]]] = []
    place = ObjectStorage.place
    sessionmaker: async_sessionmaker[AsyncSession] = s3_app.state.sessionmaker

    async def spying_place(self: ObjectStorage, staged: Staged) -> None:
        async with sessionmaker() as other:  # another connection sees only committed rows
            rows = await count_documents(other)
        seen.append((rows, await objects(s3_stores)))
        await place(self, staged)

    monkeypatch.setattr(ObjectStorage, "place", spying_place)
    response = await upload(s3_client, world.citizen)
    assert response.status_code == 201
    [(rows, before)] = seen
    assert rows == 1
    assert [name.split("/")[0] for name in before] == ["staging"]  # staged in the bucket, not yet kept
    assert list(await objects(s3_stores)) == [f"documents/{await _key_of(s3_app, response)}"]


async def _key_of(app: FastAPI, response: httpx.Response) -> str:
    async with app.state.sessionmaker() as session:
        return await _key(session, response.json()["id"])


async def test_a_failed_commit_leaves_no_row_no_object_and_no_file(
    s3_app: FastAPI, world: World, s3_stores: Stores, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport = httpx.ASGITransport(app=s3_app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as raw_client:
        monkeypatch.setattr(AsyncSession, "commit", failing_second_commit())
        response = await upload(raw_client, world.citizen)
        monkeypatch.undo()
    assert_problem(response, 500, "internal_error")
    assert await objects(s3_stores) == {}
    assert local_files(s3_stores) == []
    assert await count_documents(session) == 0


async def test_a_refused_upload_leaves_nothing_in_the_bucket(
    s3_client: httpx.AsyncClient, world: World, s3_stores: Stores
) -> None:
    response = await upload(s3_client, world.citizen, appointment_id=uuid.uuid4())  # not theirs: 422
    assert_problem(response, 422, "invalid_appointment")
    assert await objects(s3_stores) == {}
    assert local_files(s3_stores) == []


async def test_deletion_and_replacement_remove_the_objects(
    s3_client: httpx.AsyncClient, world: World, s3_stores: Stores, session: AsyncSession
) -> None:
    first = (await upload(s3_client, world.citizen)).json()
    first_key = await _key(session, first["id"])
    assert list(await objects(s3_stores)) == [f"documents/{first_key}"]
    deleted = await s3_client.delete(f"/documents/{first['id']}", headers=world.citizen.headers)
    assert deleted.status_code == 204
    assert await objects(s3_stores) == {}

    links: dict[str, Any] = {"appointment_id": world.appointment.id, "requirement_id": world.requirements[0].id}
    replaced = (await upload(s3_client, world.citizen, **links)).json()
    newer = (await upload(s3_client, world.citizen, image_bytes("PNG"), **links)).json()
    assert list(await objects(s3_stores)) == [f"documents/{await _key(session, newer['id'])}"]
    gone = await s3_client.get(f"/documents/{replaced['id']}/content", headers=world.citizen.headers)
    assert_problem(gone, 410, "document_replaced")


async def test_a_missing_object_is_404_content_missing(
    s3_client: httpx.AsyncClient, world: World, s3_stores: Stores, session: AsyncSession
) -> None:
    document = (await upload(s3_client, world.citizen)).json()
    await _storage(s3_stores).delete(await _key(session, document["id"]))
    response = await s3_client.get(f"/documents/{document['id']}/content", headers=world.citizen.headers)
    assert_problem(response, 404, "content_missing")


async def test_startup_sweep_finishes_or_undoes_staged_objects_of_gone_writers_only(
    s3_app: FastAPI, s3_client: httpx.AsyncClient, world: World, s3_stores: Stores, session: AsyncSession
) -> None:
    storage = _storage(s3_stores)
    committed = (await upload(s3_client, world.citizen)).json()
    committed_key = await _key(session, committed["id"])
    gone = str(dead_process())
    # A crash after the commit, before the copy: the object is still staged, its writer gone.
    await obstore.copy_async(storage.store, f"documents/{committed_key}", f"staging/{gone}/{committed_key}")
    await storage.delete(committed_key)
    # A crash before the commit: a staged object without a row, and a local file without one.
    orphan = Staged(new_key(), gone)
    await obstore.put_async(storage.store, f"staging/{gone}/{orphan.key}", b"partial")
    local_orphan = s3_stores.staging.path(Staged(new_key(), gone))
    local_orphan.parent.mkdir(parents=True)
    local_orphan.write_bytes(b"partial")
    # A stored object without a row.
    await obstore.put_async(storage.store, "documents/" + "ab" * 16, b"deleted")
    # In flight: this live process's, and one of a writer on another machine (cannot be checked).
    mine = f"staging/{processes.current()}/{new_key()}"
    elsewhere = f"staging/{'f' * 32}-1-2-3/{new_key()}"
    for name in (mine, elsewhere):
        await obstore.put_async(storage.store, name, b"in flight")

    started = time.monotonic()
    changed = await sweep(s3_app.state.sessionmaker, s3_stores, grace_seconds=3600)
    assert time.monotonic() - started < 30  # no waiting for an hour, nor for anything
    assert changed == 4
    assert set(await objects(s3_stores)) == {f"documents/{committed_key}", mine, elsewhere}
    assert local_files(s3_stores) == []
    download = await s3_client.get(f"/documents/{committed['id']}/content", headers=world.citizen.headers)
    assert download.content == PDF

    # Once older than the grace period, the unknown writer's object goes too; the live one's stays.
    assert await sweep(s3_app.state.sessionmaker, s3_stores, grace_seconds=0) == 1
    assert set(await objects(s3_stores)) == {f"documents/{committed_key}", mine}
