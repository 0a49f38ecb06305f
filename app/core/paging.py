"""Offset pagination and text search for the ORM list endpoints.

The hot lists (a citizen's appointments, the staff queue) write their own single statements; the
others share these.
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession


async def count(session: AsyncSession, query: Select[Any]) -> int:
    """How many rows `query` matches."""
    return await session.scalar(select(func.count()).select_from(query.subquery())) or 0


async def page_of[T](
    session: AsyncSession, query: Select[T], *, order_by: Sequence[Any], offset: int, limit: int
) -> tuple[Sequence[T], int]:
    """One page of an entity query, in `order_by` (end it with a unique column, so pages never
    overlap), and the total that `query` matches."""
    total = await count(session, query)
    rows = await session.scalars(query.order_by(*order_by).offset(offset).limit(limit))
    return rows.all(), total


def contains(text: str) -> str:
    """An ILIKE pattern for `text` anywhere, its `%`, `_` and `\\` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
