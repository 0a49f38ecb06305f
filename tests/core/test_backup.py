"""`queueless backup` and `queueless restore`: a populated embedded database with uploaded files,
backed up beside its running server and restored into a new data directory, gives back every row
and every file; damaged archives and non-empty targets are refused without touching anything."""

import asyncio
import io
import json
import os
import signal
import subprocess
import tarfile
from pathlib import Path

import asyncpg
import httpx
import pytest

from app.core import backup as backups
from app.core import migrations
from tests.core.test_cli import _free_port, _run_cli, _start_serve
from tests.documents.files import PDF, image_bytes
from tests.helpers import PASSWORD


def _env(data_dir: Path) -> dict[str, str]:
    env = {**os.environ, "DATA_DIR": str(data_dir), "BCRYPT_ROUNDS": "4", "SECRET_KEY": "b" * 40}
    env.pop("DATABASE_URL", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


async def _table_digests(url: str) -> dict[str, str]:
    conn = await asyncpg.connect(url)
    try:
        tables = [
            row[0]
            for row in await conn.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
            )
        ]
        return {
            table: str(
                await conn.fetchval(
                    f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM \"{table}\" t"
                )
            )
            for table in tables
        }
    finally:
        await conn.close()


async def _wait_for_the_outbox(url: str) -> None:
    """Until the server's outbox worker has handled every mail (registration mails a verification
    link): a mail it handles between the backup and the comparison would differ only by timing."""
    conn = await asyncpg.connect(url)
    try:
        for _ in range(300):
            if not await conn.fetchval("SELECT count(*) FROM email_outbox WHERE status = 'pending'"):
                return
            await asyncio.sleep(0.1)
        raise AssertionError("the outbox worker left mails pending")
    finally:
        await conn.close()


def _populate(base: str) -> tuple[dict[str, str], dict[str, bytes]]:
    """A citizen with two uploaded documents; their credentials and the files by document id."""
    email = "backup-citizen@example.org"
    with httpx.Client(base_url=f"{base}/api/v1", timeout=30) as client:
        registered = client.post("/auth/register", json={"email": email, "password": PASSWORD, "full_name": "Bea"})
        assert registered.status_code == 201, registered.text
        headers = {"Authorization": f"Bearer {registered.json()['access_token']}"}
        files: dict[str, bytes] = {}
        for name, content, kind in (("a.pdf", PDF, "application/pdf"), ("b.png", image_bytes("PNG"), "image/png")):
            uploaded = client.post("/documents", files={"file": (name, content, kind)}, headers=headers)
            assert uploaded.status_code == 201, uploaded.text
            files[uploaded.json()["id"]] = content
    return {"email": email, "password": PASSWORD}, files


def _stop(server: subprocess.Popen[str]) -> None:
    server.send_signal(signal.SIGINT)
    server.wait(timeout=60)


def test_backup_beside_a_running_server_restores_every_row_and_file(tmp_path: Path) -> None:
    source_env, target_env = _env(tmp_path / "source"), _env(tmp_path / "target")
    archive = tmp_path / "nightly.tar"
    port = _free_port()
    server = _start_serve(source_env, port)
    try:
        credentials, files = _populate(f"http://127.0.0.1:{port}")
        source_url = _run_cli(["db-url"], source_env).stdout.strip()
        asyncio.run(_wait_for_the_outbox(source_url))
        made = _run_cli(["backup", "--output", str(archive)], source_env, timeout=180)
        assert made.returncode == 0, made.stderr
        assert f"backup written to {archive}" in made.stdout
        source_digests = asyncio.run(_table_digests(source_url))
    finally:
        _stop(server)

    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert names[0] == "manifest.json"
    assert "database.dump" in names
    assert len([n for n in names if n.startswith("uploads/documents/")]) == 2
    assert manifest["alembic_revisions"] == sorted(migrations.head_revisions())  # the one head
    assert manifest["postgresql_server_version"].startswith("18")
    assert set(manifest["files"]) == set(names) - {"manifest.json"}
    assert "b" * 40 not in archive.read_bytes().decode("latin-1")  # no SECRET_KEY in it

    restored = _run_cli(["restore", str(archive)], target_env, timeout=180)
    assert restored.returncode == 0, restored.stderr
    again = _run_cli(["restore", str(archive)], target_env, timeout=180)
    assert again.returncode == 2
    assert "already has" in again.stderr

    port = _free_port()
    server = _start_serve(target_env, port)
    try:
        target_url = _run_cli(["db-url"], target_env).stdout.strip()
        assert asyncio.run(_table_digests(target_url)) == source_digests
        with httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=30) as client:
            signed_in = client.post("/auth/login", json=credentials)
            assert signed_in.status_code == 200
            headers = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
            for document_id, content in files.items():
                downloaded = client.get(f"/documents/{document_id}/content", headers=headers)
                assert downloaded.status_code == 200
                assert downloaded.content == content
    finally:
        _stop(server)


def _archive(tmp_path: Path, members: dict[str, bytes]) -> Path:
    path = tmp_path / "archive.tar"
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _manifest(files: dict[str, str]) -> bytes:
    return json.dumps({"format": backups.FORMAT, "files": files, "alembic_revisions": ["0011"]}).encode()


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ({"database.dump": b"x"}, "no manifest.json"),
        ({"manifest.json": b"{", "database.dump": b"x"}, "not valid JSON"),
        ({"manifest.json": _manifest({"database.dump": "0" * 64}), "database.dump": b"x"}, "SHA-256"),
        ({"manifest.json": _manifest({"database.dump": "0" * 64}), "../evil": b"x"}, "unexpected member"),
        ({"manifest.json": _manifest({"database.dump": "0" * 64}), "database.dump": b"x", "uploads/x": b"y"}, "differ"),
    ],
    ids=["no-manifest", "bad-json", "checksum", "traversal", "unlisted-file"],
)
def test_damaged_archives_are_refused_before_anything_is_touched(
    tmp_path: Path, members: dict[str, bytes], message: str
) -> None:
    def never(url: str) -> None:
        raise AssertionError("nothing may be restored")

    with pytest.raises(backups.BackupError, match=message):
        backups.restore(
            database_url="postgresql://nobody@127.0.0.1:1/none",
            uploads_dir=tmp_path / "uploads",
            archive=_archive(tmp_path, members),
            migrate=never,
        )
    assert not (tmp_path / "uploads").exists()


def test_restore_refuses_a_database_that_has_tables(database_url: str, tmp_path: Path) -> None:
    archive = tmp_path / "b.tar"
    backups.backup(database_url=database_url, uploads_dir=tmp_path / "none", output=archive)
    before = asyncio.run(_table_digests(database_url.replace("postgresql+asyncpg://", "postgresql://")))

    def never(url: str) -> None:
        raise AssertionError("nothing may be migrated")

    with pytest.raises(backups.RestoreRefused, match="already has"):
        backups.restore(database_url=database_url, uploads_dir=tmp_path / "uploads", archive=archive, migrate=never)
    assert asyncio.run(_table_digests(database_url.replace("postgresql+asyncpg://", "postgresql://"))) == before
    assert backups.RestoreRefused.exit_code == 2  # the CLI's exit status (see the round trip above)


@pytest.mark.parametrize("command", [["backup", "--output", "never.tar"], ["restore", "never.tar"]])
def test_an_object_store_is_refused_rather_than_left_out(tmp_path: Path, command: list[str]) -> None:
    """With STORAGE_URL=s3://..., the uploads are not local: the commands refuse (exit 1) and say
    so, instead of writing an archive without the files or restoring rows whose files are absent."""
    env = {**_env(tmp_path / "data"), "STORAGE_URL": "s3://bucket/docs", "DATABASE_URL": "postgresql://x@127.0.0.1:1/x"}
    done = _run_cli([*command[:-1], str(tmp_path / command[-1])], env)
    assert done.returncode == 1, done.stderr
    assert "STORAGE_URL is s3://" in done.stderr
    assert "local uploads only" in done.stderr
    assert not (tmp_path / "never.tar").exists()
