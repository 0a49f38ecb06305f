import time
import uuid
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Integer, bindparam, literal, literal_column, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core import prepared
from app.core.security import InvalidToken, TokenSigner
from tests.helpers import assert_problem


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


async def test_a_connection_that_died_is_not_handed_out_again(database_url: str) -> None:
    """The hot paths use the driver directly, so SQLAlchemy never sees a dead connection: `borrow`
    must throw it away itself, or every later request on it would fail."""
    import asyncpg
    from sqlalchemy import func
    from sqlalchemy.ext.asyncio import create_async_engine

    from tests.conftest import _libpq

    backend = prepared.Prepared(select(func.pg_backend_pid().label("pid")))
    engine = create_async_engine(database_url, pool_size=1, max_overflow=0)
    try:
        first = await prepared.fetchrow(engine, backend)
        assert first is not None
        admin = await asyncpg.connect(_libpq(database_url))
        try:
            await admin.execute("SELECT pg_terminate_backend($1)", first["pid"])
        finally:
            await admin.close()
        # Which error comes first depends on when the backend's FATAL reaches the driver: the
        # server's message, a closed connection, or asyncpg's own `InternalClientError`.
        with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError)):
            await prepared.fetchrow(engine, backend)
        again = await prepared.fetchrow(engine, backend)
        assert again is not None
        assert again["pid"] != first["pid"]
    finally:
        await engine.dispose()
