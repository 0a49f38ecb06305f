"""Hot paths: SQLAlchemy Core statements compiled once, run as asyncpg prepared statements.

The ORM session is the right tool for the many small writes of the app, but on the requests that
dominate the load (reading an appointment, a page of them, a service's slots, a booking) its
per-request machinery cost more CPU than the query itself: an `AsyncSession` with its
transaction, cache-key generation and result processing is about 230 µs of CPU per statement on
this machine, a borrowed driver connection running a prepared statement about 90 µs.

So those paths build their statement with SQLAlchemy Core as usual, compile it once at import
time for the asyncpg dialect (`Prepared`), and run it on a connection borrowed from the engine's
own pool (`borrow`): one pool, one configuration, and asyncpg's statement cache makes each
statement a server-side prepared statement after its first use on a connection.

Each statement runs on its own (autocommit), so a hot path is written as one statement: its
atomicity is PostgreSQL's. Errors are the driver's own (`asyncpg.PostgresError`); `app/core/api.py`
maps them to problems like SQLAlchemy's.

SQLAlchemy's bind and result processors do not run: parameters go to asyncpg as they are (a
`StrEnum` for a VARCHAR, JSON for a JSONB column as text) and rows come back as asyncpg records
(JSON columns decoded by the engine's codec).
"""

import asyncio
import weakref
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from enum import Enum
from typing import Any

import asyncpg
from sqlalchemy import Boolean, Engine, Integer, String
from sqlalchemy import Enum as SAEnum
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.exc import MissingGreenlet
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import Pool, PoolProxiedConnection, QueuePool
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.expression import ClauseElement
from sqlalchemy.util import greenlet_spawn

from app.core.database import refuse_closed_connection

_DIALECT = asyncpg_dialect()  # type: ignore[no-untyped-call]
# Constants written inline: a value of the Python type beside its SQL type (SQLAlchemy's `Enum`, a
# String that may store names, stays a parameter).
_INLINED = ((String, str), (Integer, int), (Boolean, bool))


class _ConstantsInlined(_DIALECT.statement_compiler):  # type: ignore[name-defined,misc]
    """The dialect's compiler, writing a statement's constants as SQL literals.

    The values SQLAlchemy made parameters of (`func.json_build_object("id", ...)`'s keys,
    `literal(...)`, a string compared with) would be encoded by asyncpg and decoded by PostgreSQL
    on every call (an appointment body has 41), and a generic plan could not see them. Only plain
    strings, integers and booleans are written inline, with the cast their parameter would have had;
    `bindparam(...)`s, which callers fill per call, stay parameters.
    """

    def visit_bindparam(self, bindparam: BindParameter[Any], **kw: Any) -> str:
        value = bindparam.effective_value
        if isinstance(value, Enum):
            value = value.value
        constant = bindparam.unique and not bindparam.expanding and bindparam.callable is None
        if (
            not constant
            or isinstance(bindparam.type, SAEnum)
            or not any(
                isinstance(bindparam.type, sql_type) and isinstance(value, python_type)
                for sql_type, python_type in _INLINED
            )
        ):
            return str(super().visit_bindparam(bindparam, **kw))
        impl = bindparam.type.dialect_impl(self.dialect)
        literal = str(self.render_literal_value(value, bindparam.type))
        return str(self.render_bind_cast(bindparam.type, impl, literal)) if impl.render_bind_cast else literal


class Prepared:
    """A Core statement compiled to SQL with `$n` placeholders, called with named parameters.

    Values written into the statement (`literal(...)`, constants in `where`) keep the value they
    were compiled with, as SQL literals where they are plain strings, integers or booleans;
    `bindparam("name")` placeholders are filled per call.
    """

    __slots__ = ("_defaults", "_names", "sql")

    def __init__(self, statement: ClauseElement) -> None:
        compiled = _ConstantsInlined(_DIALECT, statement)
        if compiled.insert_prefetch or compiled.update_prefetch:
            # SQLAlchemy computes Python-side column defaults per execution; compiled once, they
            # would be frozen (every row the same `uuid4()`).
            columns = [c.name for c in [*compiled.insert_prefetch, *compiled.update_prefetch]]
            raise ValueError(f"give these columns values in the statement itself: {columns}")
        self.sql: str = compiled.string
        self._names: tuple[str, ...] = tuple(compiled.positiontup or ())
        self._defaults: dict[str, Any] = {
            name: value.value if isinstance(value, Enum) else value
            for name, value in compiled.params.items()
            if value is not None
        }

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        try:
            return [params[name] if name in params else self._defaults[name] for name in self._names]
        except KeyError as exc:
            raise TypeError(f"missing parameter {exc.args[0]!r} for a prepared statement") from exc


_GATES: "weakref.WeakKeyDictionary[Engine, asyncio.Semaphore]" = weakref.WeakKeyDictionary()


def _gate(engine: AsyncEngine) -> asyncio.Semaphore:
    """A first-come-first-served queue in front of the engine's pool, as wide as the pool.

    The pool waits on an `asyncio.Queue`, which lets a newcomer take a connection that was just
    handed to a woken waiter; the waiter then queues again at the back. Under saturation (more
    requests in flight than connections) a few requests waited a second and more while others
    passed them. `asyncio.Semaphore` is fair, so the hot paths wait in order here instead: with
    64 connections of load and a pool of 40, the citizen's list went from a p99 of 790-920 ms to
    290-330 ms (wrk, on a copy of the bench database).
    """
    gate = _GATES.get(engine.sync_engine)
    if gate is None:
        size = engine.pool.size() if isinstance(engine.pool, QueuePool) else 1
        gate = _GATES[engine.sync_engine] = asyncio.Semaphore(size)
    return gate


@asynccontextmanager
async def borrow(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """The asyncpg connection under one of the engine's pooled connections, for the duration."""
    async with _gate(engine):
        async with _checked_out(engine) as connection:
            yield connection


@asynccontextmanager
async def _checked_out(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    pool = engine.pool  # one pool for both ends, even if the engine is disposed meanwhile
    pooled = await _check_out(pool)
    connection: asyncpg.Connection = pooled.driver_connection
    healthy = False
    try:
        yield connection
        healthy = True
    except (asyncpg.PostgresConnectionError, asyncpg.exceptions.OperatorInterventionError):
        raise  # the server is closing this connection (a shutdown, a terminated backend)
    except asyncpg.PostgresError:
        healthy = True  # the server answered a statement with an error: the connection is fine
        raise
    finally:
        # SQLAlchemy never sees this connection's errors. Anything but a server's answer (a
        # terminated backend, a lost socket, a cancelled wait, asyncpg's own "another operation
        # is in progress" while it consumes a FATAL) may leave the connection unusable, so it is
        # discarded here, or the pool would hand it out again.
        if not healthy or connection.is_closed():
            await greenlet_spawn(pooled.invalidate)
        await _check_in(pool, pooled)


# The pool is SQLAlchemy's synchronous code, which reaches the driver through a greenlet
# (`greenlet_spawn`) when it needs IO. Entering one costs ~11 µs on its own, and far more inside
# a loaded server: checking out and in through greenlets was ~110 µs of a ~500 µs read by id
# (measured by taking them away, bench/README.md). Taking an idle connection and giving it back
# need no IO, so the hot paths call the pool directly and enter a greenlet only where IO may
# happen.

# Per pool: how many checkouts still go through a greenlet after a direct one met a connection to
# reopen. That record went back to the end of the queue and the fallback took the next one; a
# checkout of every queued record through a greenlet reaches it and reopens it.
_REOPENING: "weakref.WeakKeyDictionary[Pool, int]" = weakref.WeakKeyDictionary()


async def _check_out(pool: Pool) -> PoolProxiedConnection:
    """A pooled connection; without a greenlet when one sits idle in the pool.

    With none idle, the pool opens a connection or waits for one: that goes through a greenlet at
    once, as does every checkout when the pool pings connections or has checkout listeners. An
    idle one may need reopening (after an invalidation, or past `pool_recycle`): SQLAlchemy closes
    the old connection if there is one (outside a greenlet, abruptly), raises `MissingGreenlet`
    before connecting and puts the record back as after a failed connect; the checkout is then
    made again in a greenlet.
    """
    reopening = _REOPENING.get(pool, 0)
    if reopening:
        _REOPENING[pool] = reopening - 1
    elif isinstance(pool, QueuePool) and pool.checkedin() > 0 and not pool._pre_ping and _checkout_needs_no_io(pool):
        try:
            return pool.connect()
        except MissingGreenlet:
            _REOPENING[pool] = pool.checkedin()
    return await greenlet_spawn(pool.connect)


def _checkout_needs_no_io(pool: Pool) -> bool:
    """Whether the pool's checkout listeners are only the engine's own check for a closed
    connection (`database.refuse_closed_connection`), which needs no IO; others might."""
    return all(listener is refuse_closed_connection for listener in pool.dispatch.checkout)


async def _check_in(pool: Pool, pooled: PoolProxiedConnection) -> None:
    """Give the connection back to `pool`. The pool resets it with a rollback, which needs no IO
    outside a transaction (the hot paths never open one), and queues it; only a connection it has
    no room for is closed, and that is IO."""
    if isinstance(pool, QueuePool) and pool.checkedin() < pool.size() and pooled.is_valid:
        pooled.close()
    else:
        await greenlet_spawn(pooled.close)


async def fetchrow(engine: AsyncEngine, statement: Prepared, **params: Any) -> asyncpg.Record | None:
    async with borrow(engine) as connection:
        return await connection.fetchrow(statement.sql, *statement.arguments(params))
