import asyncio
import gc
import time
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Integer, bindparam, func, literal, literal_column, select
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.core import database, prepared
from app.core.security import InvalidToken, TokenSigner
from tests.helpers import assert_problem

ONE = prepared.Prepared(select(literal(1).label("one")))
BACKEND = prepared.Prepared(select(func.pg_backend_pid().label("pid")))


def _engine(database_url: str, **pool: Any) -> AsyncEngine:
    return create_async_engine(database_url, connect_args=database.CONNECT_ARGS, **pool)


async def test_prepared_statement_keeps_compiled_values_and_takes_named_parameters(engine: AsyncEngine) -> None:
    statement = prepared.Prepared(select(literal("fixed").label("word"), bindparam("n", type_=Integer).label("n")))
    row = await prepared.fetchrow(engine, statement, n=7)
    assert row is not None
    assert (row["word"], row["n"]) == ("fixed", 7)
    with pytest.raises(TypeError, match="'n'"):
        statement.arguments({})


async def test_constants_are_written_into_the_sql_and_only_named_parameters_are_sent(engine: AsyncEngine) -> None:
    statement = prepared.Prepared(
        select(
            literal("it's $1").label("text"),
            literal(3).label("three"),
            literal_column("'$2'").label("written"),
            bindparam("a", type_=Integer).label("a"),
            (bindparam("b", type_=Integer) + bindparam("a", type_=Integer)).label("sum"),
            literal(1.5).label("half"),
            literal(timedelta(minutes=5)).label("interval"),
        )
    )
    assert "'it''s $1'" in statement.sql
    assert statement.arguments({"a": 1, "b": 2})[:2] == [1, 2]  # then the values kept as parameters
    row = await prepared.fetchrow(engine, statement, a=1, b=2)
    assert row is not None
    assert dict(row) == {
        "text": "it's $1",
        "three": 3,
        "written": "$2",
        "a": 1,
        "sum": 3,
        "half": 1.5,
        "interval": timedelta(minutes=5),
    }


async def test_long_statements_stay_prepared_on_the_connection(engine: AsyncEngine) -> None:
    """asyncpg prepares only statements up to `max_cacheable_statement_size` once per connection;
    the house's limit covers its longest hot statement, and a statement past asyncpg's default
    (15 KiB) is prepared once, not parsed and planned on every call."""
    from app.services.knowledge import queries as knowledge_queries

    shape = knowledge_queries.Shape(q=True, status=True, any_of=True)
    longest = knowledge_queries.page_statement(shape, signed_in=True, size=100)
    assert 15 * 1024 < len(longest.sql) < database.MAX_CACHEABLE_STATEMENT_BYTES
    sql = "SELECT length('" + "x" * 20_000 + "')"
    async with prepared.borrow(engine) as connection:
        for _ in range(2):
            assert await connection.fetchval(sql) == 20_000
        kept = await connection.fetchval("SELECT count(*) FROM pg_prepared_statements WHERE statement = $1", sql)
    assert kept == 1


def test_python_side_defaults_are_refused_rather_than_frozen() -> None:
    from sqlalchemy import insert

    from app.services.notifications.models import OutboxEmail

    write = insert(OutboxEmail).values(to_address="a@example.org", subject="s", body="b")
    with pytest.raises(ValueError, match="id"):
        prepared.Prepared(write)


async def test_a_driver_error_on_a_hot_path_is_a_problem_not_a_500(app: FastAPI) -> None:
    division = prepared.Prepared(select(literal(1) / bindparam("divisor", type_=Integer)))

    @app.get("/api/v1/_divide")
    async def divide() -> None:
        await prepared.fetchrow(app.state.engine, division, divisor=0)

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/api/v1/_divide")
    app.router.routes.pop()
    assert_problem(response, 422, "validation_error")


def test_a_remembered_token_still_expires() -> None:
    signer = TokenSigner(secret_key="k" * 40, issuer="queueless", audience="queueless", access_ttl=timedelta(seconds=1))
    user_id, session_id = uuid.uuid4(), uuid.uuid4()
    token = signer.issue_access(user_id=user_id, session_id=session_id)
    assert signer.verify_access(token).user_id == user_id
    assert signer.verify_access(token).session_id == session_id  # the remembered answer
    time.sleep(2.1)  # `exp` has whole seconds
    with pytest.raises(InvalidToken):
        signer.verify_access(token)


# Reopening a connection on the hot path's direct checkout must not leave an unawaited connect
# coroutine behind (see `database._ConnectWhenAwaited`).
@pytest.mark.filterwarnings("error::RuntimeWarning")
async def test_a_connection_that_died_is_not_handed_out_again(database_url: str) -> None:
    """The hot paths use the driver directly, so SQLAlchemy never sees a dead connection: `borrow`
    must throw it away itself, or every later request on it would fail."""
    import asyncpg

    from tests.conftest import _libpq

    engine = _engine(database_url, pool_size=1, max_overflow=0)
    try:
        first = await prepared.fetchrow(engine, BACKEND)
        assert first is not None
        admin = await asyncpg.connect(_libpq(database_url))
        try:
            await admin.execute("SELECT pg_terminate_backend($1)", first["pid"])
        finally:
            await admin.close()
        # Which error comes first depends on when the backend's FATAL reaches the driver: the
        # server's message, a closed connection, or asyncpg's own `InternalClientError`.
        with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError)):
            await prepared.fetchrow(engine, BACKEND)
        again = await prepared.fetchrow(engine, BACKEND)
        assert again is not None
        assert again["pid"] != first["pid"]
        gc.collect()  # a dropped coroutine warns when collected
    finally:
        await engine.dispose()


@pytest.fixture
def greenlets(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The pool operations (`connect`, `close`, `invalidate`) the hot paths make through a greenlet."""
    made: list[str] = []
    spawn = prepared.greenlet_spawn

    async def counted_spawn(fn: Any, *args: Any, **kwargs: Any) -> Any:
        made.append(fn.__name__)
        return await spawn(fn, *args, **kwargs)

    monkeypatch.setattr(prepared, "greenlet_spawn", counted_spawn)
    return made


async def test_a_warm_pool_lends_and_takes_back_without_a_greenlet(database_url: str, greenlets: list[str]) -> None:
    """Entering a greenlet inside a request is expensive (see `prepared._check_out`): an idle
    connection is taken and given back directly; only opening one goes through a greenlet."""
    engine = _engine(database_url, pool_size=2, max_overflow=0)
    try:
        assert await prepared.fetchrow(engine, ONE) is not None
        assert greenlets == ["connect"]  # the pool opened its first connection
        for _ in range(3):
            assert await prepared.fetchrow(engine, ONE) is not None
        assert greenlets == ["connect"]
        assert (engine.pool.checkedin(), engine.pool.checkedout()) == (1, 0)
    finally:
        await engine.dispose()


@pytest.mark.filterwarnings("error::RuntimeWarning")
async def test_a_connection_to_reopen_does_not_keep_the_pool_off_the_direct_path(
    database_url: str, greenlets: list[str]
) -> None:
    engine = _engine(database_url, pool_size=2, max_overflow=0)
    try:
        async with prepared._checked_out(engine), prepared._checked_out(engine):
            pass  # two connections in the pool
        async with prepared._checked_out(engine) as connection:
            connection.terminate()  # given back closed: invalidated, reopened at its next checkout
        async with prepared._checked_out(engine):
            pass  # the one to reopen is now first in the queue
        greenlets.clear()
        for _ in range(8):
            assert await prepared.fetchrow(engine, ONE) is not None
        # The first direct checkout met it and the fallback took the other one; it is reopened
        # within a round of the queue through a greenlet, then the pool is back on the direct path.
        assert greenlets[:1] == ["connect"]
        assert greenlets[4:] == []
        assert (engine.pool.checkedin(), engine.pool.checkedout()) == (2, 0)
        gc.collect()
    finally:
        await engine.dispose()


async def test_a_pool_that_pings_its_connections_keeps_them(database_url: str, greenlets: list[str]) -> None:
    """`pool_pre_ping` needs IO at every checkout: outside a greenlet the ping would fail and the
    pool would throw a good connection away each time."""
    engine = _engine(database_url, pool_size=1, max_overflow=0, pool_pre_ping=True)
    try:
        backends = set()
        for _ in range(3):
            row = await prepared.fetchrow(engine, BACKEND)
            assert row is not None
            backends.add(row["pid"])
        assert len(backends) == 1
        assert greenlets.count("connect") == 3
    finally:
        await engine.dispose()


async def test_a_connection_the_pool_has_no_room_for_is_closed_when_it_comes_back(database_url: str) -> None:
    engine = _engine(database_url, pool_size=1, max_overflow=1)
    try:
        async with prepared._checked_out(engine) as hot:
            async with engine.connect() as other:  # one beyond the pool size
                await other.exec_driver_sql("SELECT 1")
            # `other` took the pool's one place, so `hot` has none left when it comes back.
        assert hot.is_closed()
        assert (engine.pool.checkedin(), engine.pool.overflow()) == (1, 0)
        assert await prepared.fetchrow(engine, ONE) is not None
    finally:
        await engine.dispose()


@pytest.mark.filterwarnings("error::RuntimeWarning")
async def test_a_connection_past_its_recycle_age_is_reopened(database_url: str) -> None:
    engine = _engine(database_url, pool_size=1, max_overflow=0, pool_recycle=1)
    try:
        first = await prepared.fetchrow(engine, BACKEND)
        await asyncio.sleep(1.2)
        again = await prepared.fetchrow(engine, BACKEND)
        assert first is not None
        assert again is not None
        assert again["pid"] != first["pid"]
        assert (engine.pool.checkedin(), engine.pool.checkedout()) == (1, 0)
        gc.collect()
    finally:
        await engine.dispose()


async def test_the_private_parts_prepared_leans_on_are_still_there(engine: AsyncEngine) -> None:
    """A SQLAlchemy upgrade that renames or reshapes what app/core/prepared.py reads fails here,
    with the name of the part, rather than somewhere on a hot path (see pyproject's pin)."""
    from sqlalchemy import String
    from sqlalchemy.pool import QueuePool

    compiler = prepared._DIALECT.statement_compiler
    for name in ("visit_bindparam", "render_literal_value", "render_bind_cast"):
        assert callable(getattr(compiler, name, None)), name
    assert prepared._DIALECT.paramstyle == "numeric_dollar"  # `$n`, what exec_driver_sql passes on
    compiled = prepared._ConstantsInlined(prepared._DIALECT, select(bindparam("x", type_=String), literal("k")))
    for name in ("insert_prefetch", "update_prefetch", "positiontup", "params", "string"):
        assert hasattr(compiled, name), name
    assert list(compiled.positiontup or ()) == ["x"]
    assert "'k'" in compiled.string
    pool = engine.pool
    assert isinstance(pool, QueuePool)
    assert pool._pre_ping is False
    assert list(pool.dispatch.checkout)  # iterable: `_checkout_needs_no_io` reads its listeners
    assert prepared._checkout_needs_no_io(pool)  # only the engine's own closed-connection check
    assert callable(pool.checkedin)
    assert callable(pool.size)


async def test_a_prepared_statement_runs_in_the_sessions_transaction(app: FastAPI) -> None:
    """Chat's send runs its compiled statement with `exec_driver_sql` in the caller's session: it
    takes the statement's positional values and is part of the session's transaction."""
    from sqlalchemy import text

    statement = prepared.Prepared(
        select((bindparam("a", type_=Integer) * 10 + bindparam("b", type_=Integer)).label("n"))
    )
    async with app.state.sessionmaker() as session:
        connection = await session.connection()
        result = await connection.exec_driver_sql(statement.sql, tuple(statement.arguments({"a": 4, "b": 2})))
        assert result.scalar_one() == 42
        await connection.exec_driver_sql("CREATE TEMP TABLE scratch (n int)")
        await session.rollback()
        missing = await session.execute(text("SELECT to_regclass('pg_temp.scratch') IS NULL"))
        assert missing.scalar_one() is True  # undone with the transaction it ran in
