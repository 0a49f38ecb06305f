"""Real server processes: two machines' worth of app (own DATA_DIRs) on one database and one
bucket, and staged uploads of a killed process cleaned at the next start while a live process's
upload in flight is never touched."""

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import obstore
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import processes
from app.core.settings import Settings
from app.services.documents.dependencies import Stores
from app.services.documents.object_storage import ObjectStorage
from tests.documents.factories import create_world
from tests.documents.files import PDF
from tests.storage.servers import Server, server_env, servers

BOUNDARY = "queueless-test-boundary"
HEAD = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\n'
    "Content-Type: application/pdf\r\n\r\n"
).encode() + PDF
TAIL = f"\r\n--{BOUNDARY}--\r\n".encode()
FILLER = os.urandom(2 * 1024 * 1024)  # past the 1 MiB the form reader buffers before it writes


def staged_files(data_dir: Path) -> list[Path]:
    root = data_dir / "uploads" / "staging"
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


def stored_files(data_dir: Path) -> list[Path]:
    root = data_dir / "uploads" / "documents"
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


async def _until(check: Callable[[], bool], what: str) -> None:
    for _ in range(600):  # 30 s
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {what} after 30 s")


class SlowUpload:
    """A streamed upload whose end waits for `finish()`: its staged file exists meanwhile."""

    def __init__(self, server: Server, headers: dict[str, str]) -> None:
        self.gate = asyncio.Event()
        self.client = httpx.AsyncClient(base_url=server.url, timeout=60)
        request = self.client.post(
            "/documents",
            content=self._body(),
            headers={**headers, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        )
        self.task = asyncio.ensure_future(request)

    async def _body(self) -> AsyncIterator[bytes]:
        yield HEAD
        yield FILLER
        await self.gate.wait()
        yield TAIL

    async def finish(self) -> httpx.Response:
        self.gate.set()
        try:
            return await self.task
        finally:
            await self.client.aclose()

    async def abandon(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self.client.aclose()


async def test_a_document_uploaded_through_one_process_downloads_through_another(
    s3_settings: Settings,
    s3_stores: Stores,
    client: httpx.AsyncClient,
    session: AsyncSession,
    tmp_path: Path,
) -> None:
    world = await create_world(client, session)
    one_dir, two_dir = tmp_path / "one", tmp_path / "two"
    with servers(server_env(s3_settings, data_dir=one_dir), server_env(s3_settings, data_dir=two_dir)) as (one, two):
        headers = world.citizen.headers
        async with httpx.AsyncClient(base_url=one.url) as first, httpx.AsyncClient(base_url=two.url) as second:
            content = PDF + os.urandom(3 * 1024 * 1024)
            data = {"appointment_id": str(world.appointment.id)}
            files = {"file": ("scan.pdf", content, "application/pdf")}
            created = await first.post("/documents", files=files, data=data, headers=headers)
            assert created.status_code == 201, created.text
            document_id = created.json()["id"]

            download = await second.get(f"/documents/{document_id}/content", headers=world.staff.headers)
            assert download.status_code == 200
            assert download.content == content
            assert stored_files(one_dir) == stored_files(two_dir) == []  # the bytes are in the bucket only
            assert staged_files(one_dir) == staged_files(two_dir) == []

            deleted = await second.delete(f"/documents/{document_id}", headers=headers)
            assert deleted.status_code == 204
            gone = await first.get(f"/documents/{document_id}/content", headers=headers)
            assert gone.status_code == 404
    assert isinstance(s3_stores.storage, ObjectStorage)
    assert [batch async for batch in obstore.list(s3_stores.storage.store)] == []


async def test_a_killed_writers_staged_file_goes_at_the_next_start_a_live_writers_stays(
    settings: Settings, client: httpx.AsyncClient, session: AsyncSession, tmp_path: Path
) -> None:
    world = await create_world(client, session)
    env = server_env(settings, data_dir=tmp_path)  # the local storage, one DATA_DIR for all
    headers = world.citizen.headers
    with servers(env) as (writer,):
        in_flight = SlowUpload(writer, headers)
        try:
            await _until(lambda: len(staged_files(tmp_path)) == 1, "the staged file")
            [live_file] = staged_files(tmp_path)
            assert processes.ProcessId.parse(live_file.parent.name) == processes.identity(writer.process.pid)
            # Another process starts on the same DATA_DIR and sweeps: the upload in flight is untouched...
            with servers(env) as (_other,):
                assert staged_files(tmp_path) == [live_file]
            # ...and completes.
            response = await in_flight.finish()
        except BaseException:
            await in_flight.abandon()
            raise
        assert response.status_code == 201, response.text
        assert staged_files(tmp_path) == []
        assert len(stored_files(tmp_path)) == 1

        crashed = SlowUpload(writer, headers)
        await _until(lambda: len(staged_files(tmp_path)) == 1, "the staged file")
        writer.kill()
        await crashed.abandon()
        [partial] = staged_files(tmp_path)  # a crash leaves the partial file

    with servers(env) as (restarted,):  # its start-up sweep runs before it answers
        assert staged_files(tmp_path) == []
        assert not partial.parent.exists()  # the killed writer's folder too
        assert len(stored_files(tmp_path)) == 1
        assert restarted.process.poll() is None
