"""Fixed-window counters in PostgreSQL, so that every server process sees the same counts."""

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, Interval, String, bindparam, case, delete, func, literal, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningInsert

from app.services.auth.models import ThrottleCounter


async def retry_after(session: AsyncSession, *, key: str, limit: int, window: timedelta) -> int | None:
    """Seconds until `key` may try again, or None when it is under its limit."""
    row = (
        await session.execute(
            select(ThrottleCounter.count, ThrottleCounter.window_start).where(ThrottleCounter.key == key)
        )
    ).first()
    if row is None:
        return None
    count, window_start = row
    ends = window_start + window
    if count < limit or ends <= datetime.now(UTC):
        return None
    return seconds_until(ends)


def seconds_until(ends: datetime) -> int:
    """`Retry-After` for a window that ends at `ends` (at least 1)."""
    return max(int((ends - datetime.now(UTC)).total_seconds()) + 1, 1)


async def hit(session: AsyncSession, *, key: str, window: timedelta) -> int:
    """Count one event for `key` in its current window and return the count so far."""
    table = ThrottleCounter.__table__
    now = datetime.now(UTC)
    in_window = table.c.window_start > literal(now - window)
    statement = (
        insert(ThrottleCounter)
        .values(key=key, window_start=now, count=1)
        .on_conflict_do_update(
            index_elements=[ThrottleCounter.key],
            set_={
                "count": case((in_window, table.c.count + 1), else_=1),
                "window_start": case((in_window, table.c.window_start), else_=now),
            },
        )
        .returning(ThrottleCounter.count)
    )
    return int((await session.execute(statement)).scalar_one())


async def clear(session: AsyncSession, *, key: str) -> None:
    await session.execute(delete(ThrottleCounter).where(ThrottleCounter.key == key))


def limited_hit(condition: ColumnElement[bool]) -> ReturningInsert[Any]:
    """`retry_after` and `hit` as one statement, for hot paths that run no session: when
    `condition` holds and `key` is under its limit, count one event and return `count`; over the
    limit, return no row and leave the counter as it was. Parameters: `key`, `window` (a
    `timedelta`) and `limit`."""
    table: Any = ThrottleCounter.__table__
    now, window = func.now(), bindparam("window", type_=Interval)
    in_window = table.c.window_start > now - window
    values = select(bindparam("key", type_=String), now, literal(1)).where(condition)
    return (
        insert(ThrottleCounter)
        .from_select(["key", "window_start", "count"], values)
        .on_conflict_do_update(
            index_elements=[ThrottleCounter.key],
            set_={
                "count": case((in_window, table.c.count + 1), else_=1),
                "window_start": case((in_window, table.c.window_start), else_=now),
            },
            where=or_(table.c.count < bindparam("limit", type_=Integer), ~in_window),
        )
        .returning(table.c.count)
    )
