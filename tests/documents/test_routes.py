import hashlib
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.core.settings import Settings
from app.services.documents.dependencies import Stores, sweep
from app.services.documents.models import Document
from app.services.documents.storage import Staged, new_key
from tests.documents.factories import World, create_appointment, create_world
from tests.documents.files import PDF, failing_second_commit, image_bytes, zip_bytes
from tests.documents.processes import dead_process
from tests.helpers import assert_problem, register_admin

MIB = 1024 * 1024


@pytest.fixture
async def world(client: httpx.AsyncClient, session: AsyncSession) -> World:
    return await create_world(client, session)


@pytest.fixture
def stores(app: FastAPI) -> Stores:
    stores: Stores = app.state.document_stores
    return stores


def files_on_disk(stores: Stores) -> list[Path]:
    roots = [stores.staging.root, Path(getattr(stores.storage, "root"))]  # noqa: B009
    return [path for root in roots if root.exists() for path in root.rglob("*") if path.is_file()]


@pytest.fixture(autouse=True)
def _empty_uploads(stores: Stores) -> None:
    for path in files_on_disk(stores):
        path.unlink()


async def upload(
    client: httpx.AsyncClient,
    account: Any,
    content: bytes = PDF,
    *,
    filename: str = "passport.pdf",
    content_type: str = "application/pdf",
    **fields: Any,
) -> httpx.Response:
    data = {name: str(value) for name, value in fields.items()}
    return await client.post(
        "/documents", files={"file": (filename, content, content_type)}, data=data, headers=account.headers
    )


async def count_documents(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Document)) or 0)


async def test_upload_type_comes_from_content_not_header_and_is_hashed(
    client: httpx.AsyncClient, world: World, stores: Stores
) -> None:
    response = await upload(client, world.citizen, PDF, filename="scan.png", content_type="image/png")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["content_type"] == "application/pdf"
    assert body["filename"] == "scan.png.pdf"
    assert body["size"] == len(PDF)
    assert body["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert body["status"] == "pending"
    assert body["appointment_id"] is None
    assert body["requirement_id"] is None
    stored = files_on_disk(stores)
    assert len(stored) == 1
    assert stored[0].read_bytes() == PDF
    assert stored[0].parent.parent == Path(getattr(stores.storage, "root"))  # noqa: B009
    assert "passport" not in stored[0].name
    assert "scan" not in stored[0].name


@pytest.mark.parametrize(("fmt", "expected"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")])
async def test_each_accepted_image_type_is_recognised(
    client: httpx.AsyncClient, world: World, fmt: str, expected: str
) -> None:
    response = await upload(client, world.citizen, image_bytes(fmt), filename="x", content_type="application/pdf")
    assert response.status_code == 201, response.text
    assert response.json()["content_type"] == expected


async def test_zip_renamed_png_is_415_and_leaves_nothing(
    client: httpx.AsyncClient, world: World, stores: Stores, session: AsyncSession
) -> None:
    response = await upload(client, world.citizen, zip_bytes(), filename="photo.png", content_type="image/png")
    assert_problem(response, 415, "unsupported_media_type")
    assert files_on_disk(stores) == []
    assert await count_documents(session) == 0


async def test_eleven_mib_upload_is_413_and_leaves_nothing(
    client: httpx.AsyncClient, world: World, stores: Stores, session: AsyncSession
) -> None:
    response = await upload(client, world.citizen, PDF + b"\0" * (11 * MIB))
    assert_problem(response, 413, "payload_too_large")
    assert files_on_disk(stores) == []
    assert await count_documents(session) == 0


async def test_oversize_upload_without_content_length_is_stopped_while_streaming(
    client: httpx.AsyncClient, world: World, stores: Stores
) -> None:
    boundary = "b0undary"
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        ).encode() + PDF
        for _ in range(40):  # 40 MiB offered; the server must stop reading long before
            sent += MIB
            yield b"\0" * MIB
        yield f"\r\n--{boundary}--\r\n".encode()

    response = await client.post(
        "/documents",
        content=body(),
        headers={**world.citizen.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert_problem(response, 413, "payload_too_large")
    assert sent <= 12 * MIB
    assert files_on_disk(stores) == []


async def test_declared_content_length_over_limit_is_refused_before_reading(
    app: FastAPI, world: World, stores: Stores
) -> None:
    received_calls = 0

    async def receive() -> dict[str, Any]:
        nonlocal received_calls
        received_calls += 1
        return {"type": "http.request", "body": b"x" * 1024, "more_body": True}

    messages = await _call(app, world, receive, content_length=50 * MIB)
    assert messages[0]["status"] == 413
    assert received_calls == 0


async def _call(app: FastAPI, world: World, receive: Any, *, content_length: int | None = None) -> list[dict[str, Any]]:
    headers = [
        (b"authorization", world.citizen.headers["Authorization"].encode()),
        (b"content-type", b"multipart/form-data; boundary=b0undary"),
    ]
    if content_length is not None:
        headers.append((b"content-length", str(content_length).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/documents",
        "raw_path": b"/api/v1/documents",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("test", 80),
        "state": {},
    }
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def test_client_disconnect_mid_upload_leaves_nothing_behind(
    app: FastAPI, world: World, stores: Stores, session: AsyncSession
) -> None:
    head = (
        b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n'
        b"Content-Type: application/pdf\r\n\r\n" + PDF
    )
    chunks = [head] + [os.urandom(1024 * 1024) for _ in range(3)]
    staged_during_upload: list[int] = []

    async def receive() -> dict[str, Any]:
        if chunks:
            return {"type": "http.request", "body": chunks.pop(0), "more_body": True}
        staged_during_upload.append(len(files_on_disk(stores)))
        return {"type": "http.disconnect"}

    messages = await _call(app, world, receive)
    assert staged_during_upload == [1]  # the partial file existed while the body arrived...
    assert files_on_disk(stores) == []  # ...and is gone
    assert await count_documents(session) == 0
    assert messages[0]["status"] == 400


async def test_failed_commit_leaves_neither_row_nor_file(
    app: FastAPI, world: World, stores: Stores, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as raw_client:
        with monkeypatch.context() as patch:
            patch.setattr(AsyncSession, "commit", failing_second_commit())
            response = await upload(raw_client, world.citizen)
    assert_problem(response, 500, "internal_error")
    assert files_on_disk(stores) == []
    assert await count_documents(session) == 0


async def test_a_replacement_whose_commit_fails_keeps_the_replaced_file(
    app: FastAPI, world: World, stores: Stores, session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    links: dict[str, Any] = {"appointment_id": world.appointment.id, "requirement_id": world.requirements[0].id}
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as raw_client:
        first = (await upload(raw_client, world.citizen, **links)).json()
        kept = files_on_disk(stores)
        assert len(kept) == 1

        with monkeypatch.context() as patch:
            patch.setattr(AsyncSession, "commit", failing_second_commit())
            assert_problem(await upload(raw_client, world.citizen, image_bytes("PNG"), **links), 500, "internal_error")
        assert files_on_disk(stores) == kept
        content = await raw_client.get(f"/documents/{first['id']}/content", headers=world.citizen.headers)
    assert content.content == PDF
    assert await count_documents(session) == 1


async def test_quota_exceeded_is_413_and_keeps_nothing(
    client: httpx.AsyncClient, world: World, stores: Stores, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "document_quota_bytes", len(PDF) * 2 + 10)
    assert (await upload(client, world.citizen)).status_code == 201
    assert (await upload(client, world.citizen)).status_code == 201
    response = await upload(client, world.citizen)
    assert_problem(response, 413, "quota_exceeded")
    assert len(files_on_disk(stores)) == 2
    # Another citizen's quota is their own.
    assert (await upload(client, world.other_citizen)).status_code == 201


async def test_replacing_a_document_gives_its_bytes_back_to_the_quota(
    client: httpx.AsyncClient, world: World, stores: Stores, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A citizen whose uploads keep being rejected is never locked out: each new upload for the
    requirement replaces the last one, whose file is removed."""
    monkeypatch.setattr(settings, "document_quota_bytes", len(PDF) * 2 + 10)
    links: dict[str, Any] = {"appointment_id": world.appointment.id, "requirement_id": world.requirements[0].id}
    assert (await upload(client, world.citizen)).status_code == 201  # an unlinked one, kept throughout
    for attempt in range(4):
        response = await upload(client, world.citizen, **links)
        assert response.status_code == 201, (attempt, response.text)
        rejected = await client.post(
            f"/documents/{response.json()['id']}/review",
            json={"decision": "rejected", "note": "Unreadable"},
            headers=world.staff.headers,
        )
        assert rejected.status_code == 200
        assert len(files_on_disk(stores)) == 2
    listed = (await client.get("/documents", params={"status": "replaced"}, headers=world.citizen.headers)).json()
    assert listed["total"] == 3
    # The quota still holds for documents that are kept.
    assert_problem(await upload(client, world.citizen), 413, "quota_exceeded")


async def test_links_must_be_own_appointment_and_its_service_requirement(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    others = await create_appointment(session, service=world.service, citizen_id=world.other_citizen.id)
    response = await upload(client, world.citizen, appointment_id=others.id)
    assert_problem(response, 422, "invalid_appointment")
    response = await upload(client, world.citizen, appointment_id=uuid.uuid4())
    assert_problem(response, 422, "invalid_appointment")
    response = await upload(
        client, world.citizen, appointment_id=world.appointment.id, requirement_id=world.other_requirements[0].id
    )
    assert_problem(response, 422, "invalid_requirement")
    response = await upload(client, world.citizen, requirement_id=world.requirements[0].id)
    assert_problem(response, 422, "requirement_needs_appointment")
    response = await upload(client, world.citizen, appointment_id="not-a-uuid")
    body = assert_problem(response, 422, "validation_error")
    assert body["errors"][0]["loc"] == ["body", "appointment_id"]
    response = await upload(client, world.citizen, status="approved")
    assert_problem(response, 422, "validation_error")
    assert await count_documents(session) == 0


async def _requirement_link(client: httpx.AsyncClient, world: World, requirement_id: uuid.UUID) -> tuple[str, str]:
    """(document id, status) the appointment's body shows for one requirement."""
    body = (await client.get(f"/appointments/{world.appointment.id}", headers=world.citizen.headers)).json()
    item = next(r for r in body["requirements"] if r["id"] == str(requirement_id))
    return item["document_id"], item["document_status"]


async def test_linked_upload_shows_per_requirement_and_replaces_rejected(
    client: httpx.AsyncClient, world: World, session: AsyncSession
) -> None:
    requirement = world.requirements[0]
    links = {"appointment_id": world.appointment.id, "requirement_id": requirement.id}
    first = (await upload(client, world.citizen, **links)).json()
    assert first["organization_id"] == str(world.organization.id)
    assert await _requirement_link(client, world, requirement.id) == (first["id"], "pending")

    rejected = await client.post(
        f"/documents/{first['id']}/review",
        json={"decision": "rejected", "note": "The photo is blurred"},
        headers=world.staff.headers,
    )
    assert rejected.status_code == 200
    assert rejected.json()["review_note"] == "The photo is blurred"
    second = (await upload(client, world.citizen, image_bytes("PNG"), **links)).json()
    assert await _requirement_link(client, world, requirement.id) == (second["id"], "pending")
    old = (await client.get(f"/documents/{first['id']}", headers=world.citizen.headers)).json()
    assert old["status"] == "replaced"
    # The replaced file is gone; its row stays as the requirement's history.
    assert_problem(
        await client.get(f"/documents/{first['id']}/content", headers=world.staff.headers), 410, "document_replaced"
    )
    second_content = await client.get(f"/documents/{second['id']}/content", headers=world.staff.headers)
    assert second_content.content == image_bytes("PNG")

    approved = await client.post(
        f"/documents/{second['id']}/review", json={"decision": "approved"}, headers=world.staff.headers
    )
    assert approved.json()["status"] == "approved"
    assert_problem(await upload(client, world.citizen, **links), 409, "requirement_approved")


async def test_review_rules(client: httpx.AsyncClient, session: AsyncSession, world: World) -> None:
    document = (await upload(client, world.citizen, appointment_id=world.appointment.id)).json()
    url = f"/documents/{document['id']}/review"
    assert_problem(
        await client.post(url, json={"decision": "rejected"}, headers=world.staff.headers), 422, "note_required"
    )
    assert_problem(
        await client.post(url, json={"decision": "rejected", "note": "  "}, headers=world.staff.headers),
        422,
        "note_required",
    )
    assert_problem(
        await client.post(url, json={"decision": "maybe"}, headers=world.staff.headers), 422, "validation_error"
    )
    for outsider in (world.other_staff, world.other_citizen, world.citizen):
        response = await client.post(url, json={"decision": "approved"}, headers=outsider.headers)
        assert_problem(response, 404, "not_found")
    ok = await client.post(url, json={"decision": "approved"}, headers=world.staff.headers)
    assert ok.status_code == 200
    assert ok.json()["status"] == "approved"
    assert ok.json()["reviewed_at"]
    again = await client.post(url, json={"decision": "rejected", "note": "no"}, headers=world.staff.headers)
    assert_problem(again, 409, "already_reviewed")
    # An admin may review any document; an unlinked one has no staff at all.
    admin = await register_admin(client, session)
    unlinked = (await upload(client, world.citizen)).json()
    response = await client.post(
        f"/documents/{unlinked['id']}/review", json={"decision": "approved"}, headers=admin.headers
    )
    assert response.status_code == 200
    response = await client.post(
        f"/documents/{unlinked['id']}/review", json={"decision": "approved"}, headers=world.staff.headers
    )
    assert_problem(response, 404, "not_found")


async def test_download_is_an_attachment_for_owner_staff_and_admin_only(
    client: httpx.AsyncClient, session: AsyncSession, world: World
) -> None:
    png = image_bytes("PNG")
    document = (
        await upload(client, world.citizen, png, filename="carte d'identité.pdf", appointment_id=world.appointment.id)
    ).json()
    url = f"/documents/{document['id']}/content"
    admin = await register_admin(client, session)
    for reader in (world.citizen, world.staff, admin):
        response = await client.get(url, headers=reader.headers)
        assert response.status_code == 200
        assert response.content == png
        assert response.headers["content-type"] == "image/png"
        assert response.headers["x-content-type-options"] == "nosniff"
        disposition = response.headers["content-disposition"]
        assert disposition.startswith("attachment;")
        assert "filename*=UTF-8''carte%20d%27identit%C3%A9.pdf.png" in disposition
        assert (await client.get(f"/documents/{document['id']}", headers=reader.headers)).status_code == 200
    for outsider in (world.other_citizen, world.other_staff):
        assert_problem(await client.get(url, headers=outsider.headers), 404, "not_found")
        assert_problem(await client.get(f"/documents/{document['id']}", headers=outsider.headers), 404, "not_found")
    assert_problem(await client.get(url), 401, "not_authenticated")


async def test_owner_deletes_pending_document_and_its_file(
    client: httpx.AsyncClient, world: World, stores: Stores, session: AsyncSession
) -> None:
    document = (await upload(client, world.citizen, appointment_id=world.appointment.id)).json()
    url = f"/documents/{document['id']}"
    assert_problem(await client.delete(url, headers=world.other_citizen.headers), 404, "not_found")
    assert_problem(await client.delete(url, headers=world.other_staff.headers), 404, "not_found")
    assert_problem(await client.delete(url, headers=world.staff.headers), 403, "forbidden")
    assert len(files_on_disk(stores)) == 1
    response = await client.delete(url, headers=world.citizen.headers)
    assert response.status_code == 204
    assert files_on_disk(stores) == []
    assert await count_documents(session) == 0
    assert_problem(await client.get(url, headers=world.citizen.headers), 404, "not_found")

    reviewed = (await upload(client, world.citizen, appointment_id=world.appointment.id)).json()
    await client.post(f"/documents/{reviewed['id']}/review", json={"decision": "approved"}, headers=world.staff.headers)
    response = await client.delete(f"/documents/{reviewed['id']}", headers=world.citizen.headers)
    assert_problem(response, 409, "document_not_pending")


async def test_lists_own_and_organization_queue(client: httpx.AsyncClient, world: World) -> None:
    linked = (await upload(client, world.citizen, appointment_id=world.appointment.id)).json()
    approved = (await upload(client, world.citizen, appointment_id=world.appointment.id)).json()
    await client.post(f"/documents/{approved['id']}/review", json={"decision": "approved"}, headers=world.staff.headers)
    await upload(client, world.citizen)  # not linked: not the organization's
    await upload(client, world.other_citizen)

    own = (await client.get("/documents", headers=world.citizen.headers)).json()
    assert own["total"] == 3
    assert {item["status"] for item in own["items"]} == {"pending", "approved"}
    url = f"/organizations/{world.organization.id}/documents"
    queue = (await client.get(url, params={"status": "pending"}, headers=world.staff.headers)).json()
    assert [item["id"] for item in queue["items"]] == [linked["id"]]
    everything = (await client.get(url, headers=world.staff.headers)).json()
    assert everything["total"] == 2
    assert_problem(await client.get(url, headers=world.other_staff.headers), 403, "forbidden")
    assert_problem(await client.get(url, headers=world.citizen.headers), 403, "forbidden")
    assert_problem(
        await client.get(url, params={"status": "lost"}, headers=world.staff.headers), 422, "validation_error"
    )


async def test_form_errors(client: httpx.AsyncClient, world: World, stores: Stores) -> None:
    response = await client.post("/documents", json={"file": "x"}, headers=world.citizen.headers)
    assert_problem(response, 415, "unsupported_media_type")
    response = await client.post(
        "/documents",
        data={"appointment_id": str(world.appointment.id)},
        files={"other": ("a", b"b")},
        headers=world.citizen.headers,
    )
    assert_problem(response, 422, "validation_error")
    two = [("file", ("a.pdf", PDF, "application/pdf")), ("file", ("b.pdf", PDF, "application/pdf"))]
    response = await client.post("/documents", files=two, headers=world.citizen.headers)
    assert_problem(response, 422, "validation_error")
    assert files_on_disk(stores) == []


async def test_startup_sweep_finishes_or_undoes_interrupted_uploads(
    app: FastAPI, client: httpx.AsyncClient, world: World, stores: Stores, session: AsyncSession
) -> None:
    kept = (await upload(client, world.citizen)).json()
    document = await session.get(Document, uuid.UUID(kept["id"]))
    assert document is not None
    stored = Path(getattr(stores.storage, "root")) / document.storage_key[:2] / document.storage_key  # noqa: B009
    gone = str(dead_process())
    # A crash after the commit, before the move: the file is still staged, its writer gone.
    staged = stores.staging.path(Staged(document.storage_key, gone))
    staged.parent.mkdir(parents=True)
    stored.replace(staged)
    # A crash before the commit: a staged file without a row (its writer gone, the file new).
    orphan = stores.staging.path(Staged(new_key(), gone))
    orphan.write_bytes(b"partial")
    # A stored file whose row was deleted.
    lost = Path(getattr(stores.storage, "root")) / "ab" / ("ab" + "0" * 30)  # noqa: B009
    lost.parent.mkdir(parents=True, exist_ok=True)
    lost.write_bytes(b"deleted")
    # This live process's upload in flight, even an old one; and a file of the flat layout of
    # earlier versions, whose writer is unknown: it waits for the grace period.
    _staged, mine = stores.staging.new_path()
    mine.write_bytes(b"in flight")
    old = time.time() - 7200
    os.utime(mine, (old, old))
    unknown = stores.staging.root / new_key()
    unknown.write_bytes(b"in flight?")
    # A replaced document whose file stayed (its removal after the commit did not happen).
    links: dict[str, Any] = {"appointment_id": world.appointment.id, "requirement_id": world.requirements[0].id}
    replaced = await session.get(Document, uuid.UUID((await upload(client, world.citizen, **links)).json()["id"]))
    assert (await upload(client, world.citizen, **links)).status_code == 201
    assert replaced is not None
    await session.refresh(replaced)
    assert replaced.status == "replaced"
    leftover = Path(getattr(stores.storage, "root")) / replaced.storage_key[:2] / replaced.storage_key  # noqa: B009
    assert not leftover.exists()
    leftover.write_bytes(PDF)

    changed = await sweep(app.state.sessionmaker, stores, grace_seconds=3600)
    assert changed == 4
    assert stored.read_bytes() == PDF
    assert not staged.exists()
    assert not orphan.exists()
    assert not staged.parent.exists()  # the gone writer's folder too
    assert not lost.exists()
    assert not leftover.exists()
    assert mine.exists()  # a live writer's upload is never taken
    assert unknown.exists()  # may belong to a request in flight
    response = await client.get(f"/documents/{kept['id']}/content", headers=world.citizen.headers)
    assert response.content == PDF

    os.utime(unknown, (old, old))
    assert await sweep(app.state.sessionmaker, stores, grace_seconds=3600) == 1
    assert not unknown.exists()
    mine.unlink()


async def test_review_decision_is_announced_to_the_owner(client: httpx.AsyncClient, world: World) -> None:
    document = (await upload(client, world.citizen, appointment_id=world.appointment.id)).json()
    await client.post(
        f"/documents/{document['id']}/review",
        json={"decision": "rejected", "note": "blurry scan"},
        headers=world.staff.headers,
    )
    items = (await client.get("/notifications", headers=world.citizen.headers)).json()["items"]
    rejected = [item for item in items if item["kind"] == "document_rejected"]
    assert len(rejected) == 1
    assert rejected[0]["data"]["document_id"] == document["id"]
    assert "blurry scan" in rejected[0]["body"]


async def test_a_slow_upload_holds_no_database_connection_while_it_streams(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """The pool has no overflow: a slow client must not keep a connection from other requests."""
    import asyncio

    from tests.helpers import register

    citizen = await register(client)
    boundary = "queueless-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode()
    halfway, resume = asyncio.Event(), asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        yield head + PDF
        halfway.set()
        await resume.wait()
        yield b"\n% the rest of the file\n" + f"\r\n--{boundary}--\r\n".encode()

    idle = engine.pool.checkedout()  # type: ignore[attr-defined]
    upload = asyncio.create_task(
        client.post(
            "/documents",
            headers={**citizen.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
            content=body(),
        )
    )
    await asyncio.wait_for(halfway.wait(), timeout=5)
    await asyncio.sleep(0.2)  # the app has authenticated and is waiting for the rest of the body
    held_while_streaming = engine.pool.checkedout()  # type: ignore[attr-defined]
    resume.set()
    response = await upload
    assert response.status_code == 201, response.text
    assert held_while_streaming == idle
