"""The declarative base, the engine and the one-transaction-per-request session."""

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import anyio
import asyncpg
import pydantic_core
from fastapi import Depends, Request
from sqlalchemy import DateTime, MetaData, event, func
from sqlalchemy import exc as sa_exc
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, SessionTransaction, mapped_column

from app.core import embedded
from app.core.errors import AppError
from app.core.settings import Settings

logger = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "%(table_name)s_%(column_0_N_name)s_key",
    "ck": "%(table_name)s_%(constraint_name)s_check",
    "fk": "%(table_name)s_%(column_0_name)s_fkey",
    "pk": "%(table_name)s_pkey",
}

EMBEDDED_URL_ENV = "QUEUELESS_EMBEDDED_DATABASE_URL"
READ_ONLY_METHODS = frozenset({"GET", "HEAD"})


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def violated_constraint(exc: IntegrityError) -> str | None:
    """The name of the constraint or unique index an ORM statement violated (asyncpg reports it)."""
    name = getattr(getattr(exc.orig, "__cause__", None), "constraint_name", None)
    return name if isinstance(name, str) else None


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


def resolve_database_url(settings: Settings) -> str:
    """The URL to use: DATABASE_URL, else the embedded server under DATA_DIR (started if needed).

    The CLI resolves the embedded URL once and passes it to worker processes through the
    environment, so that uvicorn workers join the server their parent started.
    """
    if settings.database_url:
        return settings.database_url
    if inherited := os.environ.get(EMBEDDED_URL_ENV):
        # A worker or reload process of `serve`: it holds the server too, so that the server never
        # stops under it when `serve` itself dies (see app/core/embedded.py).
        embedded.start(settings.data_dir)
        return inherited
    url = start_embedded(settings.data_dir)
    os.environ[EMBEDDED_URL_ENV] = url
    return url


def release_database(settings: Settings) -> None:
    """Let go of the embedded server, if this process holds one (see `embedded.leave`)."""
    if not settings.database_url and os.environ.get(EMBEDDED_URL_ENV):
        embedded.leave(settings.data_dir)


def start_embedded(data_dir: Path) -> str:
    """Start or join the embedded server. Synchronous: call it from a thread inside an event loop."""
    admin_uri = embedded.start(data_dir)
    asyncio.run(embedded.ensure_database(admin_uri, embedded.DATABASE_NAME))
    return embedded.with_database(admin_uri, embedded.DATABASE_NAME)


MAX_CACHEABLE_STATEMENT_BYTES = 64 * 1024


class _ConnectWhenAwaited:
    """`asyncpg.connect(...)` that starts only when awaited.

    SQLAlchemy's asyncpg dialect creates the connect coroutine before it finds out whether it can
    await it. The hot paths take pooled connections without a greenlet (`prepared._check_out`);
    when the pool has to reconnect one, the dialect raises `MissingGreenlet` and drops that
    coroutine unawaited, which Python reports as a `RuntimeWarning`. This awaitable is dropped
    silently, and behaves as the coroutine once awaited.
    """

    __slots__ = ("_args", "_kwargs")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._args, self._kwargs = args, kwargs

    def __await__(self) -> Generator[Any, None, asyncpg.Connection]:
        connection: asyncpg.Connection = yield from asyncpg.connect(*self._args, **self._kwargs).__await__()
        return connection


# Given to the driver with the URL's own arguments; `async_creator_fn` is the dialect's way to
# replace `asyncpg.connect` (what `create_async_engine(async_creator=...)` uses, minus the URL).
CONNECT_ARGS: dict[str, Any] = {
    "server_settings": {"application_name": "queueless"},
    "async_creator_fn": _ConnectWhenAwaited,
    # asyncpg keeps a server-side prepared statement only for SQL up to this size (15 KiB by
    # default); a longer one is parsed and planned again on every call, silently. The hot paths
    # are single statements of up to ~17 KiB (a signed-in knowledge search).
    "max_cacheable_statement_size": MAX_CACHEABLE_STATEMENT_BYTES,
}


# How long a client is told to wait (`Retry-After`) when the database cannot be reached.
DATABASE_RETRY_AFTER_SECONDS = 5
_DRIVER_MODULES = ("asyncpg", "sqlalchemy")
# asyncpg's own words for a connection that is gone (`InterfaceError`, which it also raises for
# misuse such as a wrong argument, so it is told apart by its message).
_GONE = ("connection is closed", "connection was closed", "another operation is in progress")


def is_database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` means "the database cannot be reached right now", as opposed to a bug or a
    statement the server refused: a refused or lost connection, a server shutting down or
    starting, too many connections, no connection free in the pool in time.

    An `OSError` counts only when the driver raised it (a refused TCP connection, a missing Unix
    socket); one from a file or another socket is something else. The error's causes are followed,
    as SQLAlchemy wraps the driver's error (`orig`) and the driver wraps the socket's."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        error = pending.pop()
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, sa_exc.DBAPIError) and error.connection_invalidated:
            return True
        if isinstance(error, sa_exc.TimeoutError):  # the pool had no connection to give in time
            return True
        if isinstance(
            error,
            asyncpg.PostgresConnectionError
            | asyncpg.CannotConnectNowError
            | asyncpg.AdminShutdownError
            | asyncpg.CrashShutdownError
            | asyncpg.TooManyConnectionsError,
        ):
            return True
        if isinstance(error, asyncpg.InterfaceError) and any(words in str(error) for words in _GONE):
            return True
        if isinstance(error, asyncpg.InternalClientError):  # a statement met the connection's loss half-way
            return True
        if isinstance(error, OSError) and _raised_by_driver(error):
            return True
        pending.extend((getattr(error, "orig", None), error.__cause__, error.__context__))
    return False


def _raised_by_driver(error: BaseException) -> bool:
    traceback = error.__traceback__
    while traceback is not None:
        if str(traceback.tb_frame.f_globals.get("__name__", "")).startswith(_DRIVER_MODULES):
            return True
        traceback = traceback.tb_next
    return False


def refuse_closed_connection(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """A pooled connection whose socket the server closed while it sat idle (a restart, a
    terminated backend) is replaced at checkout, without a round trip: asyncpg notices the closed
    socket by itself. The whole pool is refreshed, as its other idle connections went the same way;
    so the first request after the database comes back succeeds."""
    if dbapi_connection.driver_connection.is_closed():
        raise sa_exc.InvalidatePoolError()


def create_engine(url: str, settings: Settings) -> AsyncEngine:
    engine = create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_pre_ping=False,
        hide_parameters=True,  # error messages and logs never carry values (hashes, e-mails)
        connect_args=CONNECT_ARGS,
        # JSON columns (appointment requirements, insights series) parsed by pydantic-core's
        # Rust parser rather than the standard library's.
        json_deserializer=pydantic_core.from_json,
    )
    event.listen(engine.sync_engine.pool, "checkout", refuse_closed_connection)
    return engine


# --- after-commit work ----------------------------------------------------------------------------

Callback = Callable[[], Awaitable[None]]
_HOOKS = "after_commit"


@dataclass
class _Hooks:
    on_commit: list[Callback] = field(default_factory=list)
    on_rollback: list[Callback] = field(default_factory=list)
    due: list[Callback] = field(default_factory=list)

    def settle(self, *, committed: bool) -> None:
        self.due.extend(self.on_commit if committed else self.on_rollback)
        self.on_commit.clear()
        self.on_rollback.clear()


def after_commit(
    session: AsyncSession, on_commit: Callback | None = None, *, on_rollback: Callback | None = None
) -> None:
    """Run `on_commit` once the session's current transaction has committed, or `on_rollback` once
    it has rolled back (a failed commit, an error, or the session closed without committing).

    For work outside the database that must follow it: move a file into place once its row
    exists, remove one once its row is gone, delete a staged file of a failed request. Any
    feature may call it anywhere in a unit of work, in any order: SQLAlchemy's session events
    decide which callbacks are due, and the session runs them (in registration order, shielded
    from cancellation) when its commit, rollback or close returns, so before a request's response
    is sent. A callback that fails is logged and the others still run; it must leave a state that
    a later sweep can finish.
    """
    hooks: _Hooks = session.sync_session.info.setdefault(_HOOKS, _Hooks())
    if on_commit is not None:
        hooks.on_commit.append(on_commit)
    if on_rollback is not None:
        hooks.on_rollback.append(on_rollback)


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    hooks: _Hooks | None = session.info.get(_HOOKS)
    if hooks is not None:
        hooks.settle(committed=True)


@event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    hooks: _Hooks | None = session.info.get(_HOOKS)
    if hooks is not None and previous_transaction.parent is None:  # not a savepoint's
        hooks.settle(committed=False)


class AppSession(AsyncSession):
    """The app's session: runs the `after_commit` callbacks that its commit or rollback made due."""

    async def commit(self) -> None:
        await super().commit()
        await self._run_due()

    async def rollback(self) -> None:
        await super().rollback()
        await self._run_due()

    async def close(self) -> None:
        hooks: _Hooks | None = self.sync_session.info.get(_HOOKS)
        if hooks is not None:
            hooks.settle(committed=False)  # what never committed is undone by the close
        await super().close()
        await self._run_due()

    async def _run_due(self) -> None:
        hooks: _Hooks | None = self.sync_session.info.get(_HOOKS)
        if hooks is None or not hooks.due:
            return
        due, hooks.due = hooks.due, []
        with anyio.CancelScope(shield=True):
            for callback in due:
                try:
                    await callback()
                except Exception:
                    logger.exception("after-commit work failed")


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AppSession, expire_on_commit=False, autoflush=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: commit when the handler returns, roll back when it raises.

    Declared with `scope="function"` so that the commit runs before the response is sent: a failed
    commit becomes an error response, never a 2xx for data that was not saved.
    """
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    async with sessionmaker() as session:
        if request.method in READ_ONLY_METHODS:
            # Reads run each statement on its own: no BEGIN/COMMIT round trips around them.
            await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        try:
            yield session
        except AppError as exc:
            await (session.commit() if exc.commit_changes else session.rollback())
            raise
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def release_connection(session: AsyncSession) -> None:
    """End the request's transaction so far and give its connection back to the pool, before a
    slow step that needs no database (a body streaming in, an image being decoded): the pool has
    no overflow, so a connection held by a slow client is one the other requests wait for. The
    session begins a new transaction at its next statement."""
    await session.commit()


async def get_engine(request: Request) -> AsyncEngine:
    """The engine itself, for hot paths that run prepared statements (`app/core/prepared.py`)."""
    engine: AsyncEngine = request.app.state.engine
    return engine


EngineDep = Annotated[AsyncEngine, Depends(get_engine)]


@asynccontextmanager
async def unit_of_work(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session for work outside a request (background tasks, the CLI), committed on success."""
    async with sessionmaker() as session, session.begin():
        yield session
