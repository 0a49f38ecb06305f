"""`database.after_commit`: work that follows a transaction's outcome, from anywhere, in any order."""

import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core import database


def _recorder(done: list[str], name: str) -> database.Callback:
    async def record() -> None:
        done.append(name)

    return record


async def test_commit_runs_the_commit_work_and_drops_the_rollback_work(app: FastAPI) -> None:
    sessionmaker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    done: list[str] = []
    async with sessionmaker() as session:
        database.after_commit(session, _recorder(done, "kept"), on_rollback=_recorder(done, "discarded"))
        await session.execute(text("SELECT 1"))
        database.after_commit(session, _recorder(done, "second"))
        assert done == []
        await session.commit()
        assert done == ["kept", "second"]  # when commit() returns
        database.after_commit(session, _recorder(done, "next transaction"))
    assert done == ["kept", "second"]  # closed without committing the next one


async def test_rollback_or_a_close_without_commit_runs_only_the_rollback_work(app: FastAPI) -> None:
    sessionmaker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    done: list[str] = []
    async with sessionmaker() as session:
        database.after_commit(session, _recorder(done, "kept"), on_rollback=_recorder(done, "discarded"))
        await session.execute(text("SELECT 1"))
        await session.rollback()
        assert done == ["discarded"]
    async with sessionmaker() as session:
        database.after_commit(session, _recorder(done, "kept"), on_rollback=_recorder(done, "closed"))
    assert done == ["discarded", "closed"]


async def test_a_failed_commit_runs_the_rollback_work(app: FastAPI) -> None:
    sessionmaker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    done: list[str] = []
    async with sessionmaker() as session:
        await session.execute(text("CREATE TEMP TABLE deferred (id int UNIQUE DEFERRABLE INITIALLY DEFERRED)"))
        await session.execute(text("INSERT INTO deferred VALUES (1), (1)"))
        database.after_commit(session, _recorder(done, "kept"), on_rollback=_recorder(done, "discarded"))
        with pytest.raises(Exception, match="deferred_id_key"):
            await session.commit()
        await session.rollback()
    assert done == ["discarded"]


async def test_failing_work_is_logged_and_the_rest_still_runs(app: FastAPI, caplog: pytest.LogCaptureFixture) -> None:
    sessionmaker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    done: list[str] = []

    async def fail() -> None:
        raise OSError("disk full")

    async with database.unit_of_work(sessionmaker) as session:
        database.after_commit(session, fail)
        database.after_commit(session, _recorder(done, "after"))
    assert done == ["after"]
    assert "after-commit work failed" in caplog.text
