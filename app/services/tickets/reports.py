"""Ticket reports: grouped queries over a range of local days (the organization's zone).

A ticket counts as `created` on the local day it was created and as `solved` on the day of its
last solve (`solved_at`, kept when it is closed). `breached`, `breach_rate` and the medians are
over the tickets created in the range: `breach_rate` = breached / created among the tickets whose
priority has a policy (null when none has); medians are of the business minutes counted at the
first response and at the last solve.
"""

import uuid
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.insights import service as insights_service

Period = insights_service.Period
resolve_period = insights_service.resolve_period

_RANGE = """
    bounds AS (
        SELECT (CAST(:d_from AS date)::timestamp AT TIME ZONE :tz) AS lo,
               ((CAST(:d_to AS date) + 1)::timestamp AT TIME ZONE :tz) AS hi
    ),
    t AS (
        SELECT t.*,
            (t.created_at >= b.lo AND t.created_at < b.hi) AS in_range,
            coalesce(t.solved_at >= b.lo AND t.solved_at < b.hi, false) AS solved_in_range,
            EXISTS (SELECT 1 FROM sla_policies p
                    WHERE p.organization_id = t.organization_id AND p.priority = t.priority) AS has_policy
        FROM tickets AS t, bounds AS b
        WHERE t.organization_id = :org
          AND ((t.created_at >= b.lo AND t.created_at < b.hi) OR (t.solved_at >= b.lo AND t.solved_at < b.hi))
    )"""

_FIGURES = """
    count(*) FILTER (WHERE t.in_range) AS created,
    count(*) FILTER (WHERE t.solved_in_range) AS solved,
    count(*) FILTER (WHERE t.in_range AND (t.first_response_breached OR t.resolution_breached)) AS breached,
    round((count(*) FILTER (WHERE t.in_range AND t.has_policy
                            AND (t.first_response_breached OR t.resolution_breached)))::numeric
          / nullif(count(*) FILTER (WHERE t.in_range AND t.has_policy), 0), 4)::float AS breach_rate,
    (percentile_cont(0.5) WITHIN GROUP (ORDER BY t.first_response_minutes)
        FILTER (WHERE t.in_range))::float AS median_first_response_minutes,
    (percentile_cont(0.5) WITHIN GROUP (ORDER BY t.resolution_minutes)
        FILTER (WHERE t.in_range))::float AS median_resolution_minutes"""

_SUMMARY = text(f"WITH {_RANGE} SELECT {_FIGURES} FROM t")
_CATEGORIES = text(f"""
WITH {_RANGE}
SELECT t.category_id, c.name, {_FIGURES}
FROM t LEFT JOIN ticket_categories AS c ON c.id = t.category_id
GROUP BY t.category_id, c.name
ORDER BY created DESC, c.name NULLS LAST
""")
_ASSIGNEES = text(f"""
WITH {_RANGE}
SELECT t.assignee_id, u.full_name AS name, {_FIGURES}
FROM t LEFT JOIN users AS u ON u.id = t.assignee_id
GROUP BY t.assignee_id, u.full_name
ORDER BY created DESC, u.full_name NULLS LAST
""")
_DAILY = text(f"""
WITH {_RANGE}, days AS (
    SELECT generate_series(CAST(:d_from AS date), CAST(:d_to AS date), interval '1 day')::date AS date
)
SELECT days.date,
    count(t.id) FILTER (WHERE t.in_range AND (t.created_at AT TIME ZONE :tz)::date = days.date) AS created,
    count(t.id) FILTER (WHERE t.solved_in_range AND (t.solved_at AT TIME ZONE :tz)::date = days.date) AS solved
FROM days LEFT JOIN t ON (t.created_at AT TIME ZONE :tz)::date = days.date
                      OR (t.solved_at AT TIME ZONE :tz)::date = days.date
GROUP BY days.date ORDER BY days.date
""")


async def _rows(session: AsyncSession, statement: Any, period: Period) -> list[dict[str, Any]]:
    return [dict(row) for row in (await session.execute(statement, period.params())).mappings()]


async def summary(session: AsyncSession, *, period: Period) -> dict[str, Any]:
    return (await _rows(session, _SUMMARY, period))[0]


async def daily(session: AsyncSession, *, period: Period) -> list[dict[str, Any]]:
    return await _rows(session, _DAILY, period)


async def by_category(session: AsyncSession, *, period: Period) -> list[dict[str, Any]]:
    return await _rows(session, _CATEGORIES, period)


async def by_assignee(session: AsyncSession, *, period: Period) -> list[dict[str, Any]]:
    return await _rows(session, _ASSIGNEES, period)


def period_for(*, organization_id: uuid.UUID, timezone: str, from_: Any, to: Any) -> Period:
    return resolve_period(timezone=timezone, organization_id=organization_id, from_=from_, to=to)
