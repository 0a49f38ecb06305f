"""Fixed-window counters in PostgreSQL, so that every server process sees the same counts."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import case, delete, literal, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

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
    now = datetime.now(UTC)
    if count < limit or ends <= now:
        return None
    return int((ends - now).total_seconds()) + 1


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
