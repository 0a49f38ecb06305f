"""Insights: every figure is computed by PostgreSQL in grouped queries over one date range.

The range is inclusive local dates in the organization's time zone (UTC for the platform
summary), matched on `starts_at`: an appointment counts on the local day it starts. The range
becomes a half-open `starts_at` interval (`[from 00:00 local, to + 1 day 00:00 local)`) so that
the `(organization_id, starts_at)` index answers it; local days and hours are computed with
`AT TIME ZONE` on the rows found.

Definitions (also in the OpenAPI text of each field):
- `no_show_rate` = no_show / (completed + no_show): the share of settled visits nobody came to.
- `cancellation_rate` = cancelled / total.
- `average_lead_time_hours`: mean of `starts_at - created_at` (how far ahead people book).
- `average_cancellation_notice_hours`: over cancelled appointments, mean of `starts_at - ` the
  time of the cancellation in the history (how much notice the organization got).
- `average_wait_minutes`: check-in → in progress; `average_service_minutes`: in progress →
  completed; both from the first such move in the status history.
- `average_rating` / `rating_count`: ratings of the appointments in the range.
"""

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import InvalidRange
from app.services.insights.errors import MAX_DAYS, InsightsRangeTooLong

DEFAULT_DAYS = 30


@dataclass(frozen=True, slots=True)
class Period:
    organization_id: uuid.UUID | None
    timezone: str
    from_: date
    to: date

    def params(self) -> dict[str, Any]:
        return {"org": self.organization_id, "tz": self.timezone, "d_from": self.from_, "d_to": self.to}


def resolve_period(*, timezone: str, organization_id: uuid.UUID | None, from_: date | None, to: date | None) -> Period:
    """Defaults: the last 30 days up to today (local). Raises range_too_long past 366 days."""
    to = to or datetime.now(ZoneInfo(timezone)).date()
    from_ = from_ or to - timedelta(days=DEFAULT_DAYS - 1)
    if from_ > to:
        raise InvalidRange("`from` must not be after `to`.")
    if (to - from_).days + 1 > MAX_DAYS:
        raise InsightsRangeTooLong()
    return Period(organization_id=organization_id, timezone=timezone, from_=from_, to=to)


# The organization's appointments of the range, in id order: the per-appointment rating probes
# then walk the index from left to right (neighbouring probes share pages).
_RANGE_CTE = """
    a AS (
        SELECT a.id, a.status, a.created_at, a.starts_at, a.service_id, a.organization_id, a.citizen_id,
               a.checked_in_at, a.started_at, a.completed_at, a.cancelled_at
        FROM appointments AS a
        WHERE a.organization_id = :org
          AND a.starts_at >= (CAST(:d_from AS date)::timestamp AT TIME ZONE :tz)
          AND a.starts_at < ((CAST(:d_to AS date) + 1)::timestamp AT TIME ZONE :tz)
        ORDER BY a.id
    )"""

_STATUS_COUNTS = """
    count(a.id) AS total,
    count(a.id) FILTER (WHERE a.status = 'booked') AS booked,
    count(a.id) FILTER (WHERE a.status = 'checked_in') AS checked_in,
    count(a.id) FILTER (WHERE a.status = 'in_progress') AS in_progress,
    count(a.id) FILTER (WHERE a.status = 'completed') AS completed,
    count(a.id) FILTER (WHERE a.status = 'cancelled') AS cancelled,
    count(a.id) FILTER (WHERE a.status = 'no_show') AS no_show"""

_FIGURES = (
    _STATUS_COUNTS
    + """,
    round(count(a.id) FILTER (WHERE a.status = 'no_show')::numeric
          / nullif(count(a.id) FILTER (WHERE a.status IN ('completed', 'no_show')), 0), 4) AS no_show_rate,
    round(count(a.id) FILTER (WHERE a.status = 'cancelled')::numeric / nullif(count(a.id), 0), 4)
        AS cancellation_rate,
    round(avg(extract(epoch FROM a.starts_at - a.created_at)) / 3600, 2) AS average_lead_time_hours,
    round(avg(extract(epoch FROM a.starts_at - a.cancelled_at)) FILTER (WHERE a.status = 'cancelled') / 3600, 2)
        AS average_cancellation_notice_hours,
    round(avg(extract(epoch FROM a.started_at - a.checked_in_at)) / 60, 2) AS average_wait_minutes,
    round(avg(extract(epoch FROM a.completed_at - a.started_at)) / 60, 2) AS average_service_minutes,
    round(avg(r.score), 2) AS average_rating,
    count(r.id) AS rating_count"""
)

# Each appointment's rating. The move times (check-in, start, completion, cancellation) are columns
# of the appointment itself, kept from the history by a trigger (migration 0007).
# For one organization: a probe of the unique index per completed appointment (OFFSET 0 keeps it a
# probe rather than a scan of every rating).
_JOINS = """
    FROM a
    LEFT JOIN LATERAL (
        SELECT r.id, r.score FROM ratings AS r WHERE r.appointment_id = a.id AND a.status = 'completed' OFFSET 0
    ) AS r ON true"""


_ORG_SUMMARY = text(f"WITH {_RANGE_CTE} SELECT {_FIGURES} {_JOINS}")

# The platform adds up the roll-up of every organization's UTC days (migration 0008) rather than
# a quarter of all appointments; only the distinct citizens need the appointments themselves
# (an index-only scan of the range).
_PLATFORM_SUMMARY = text(
    """
    SELECT coalesce(sum(t.total), 0) AS total,
        coalesce(sum(t.booked), 0) AS booked,
        coalesce(sum(t.checked_in), 0) AS checked_in,
        coalesce(sum(t.in_progress), 0) AS in_progress,
        coalesce(sum(t.completed), 0) AS completed,
        coalesce(sum(t.cancelled), 0) AS cancelled,
        coalesce(sum(t.no_show), 0) AS no_show,
        round(sum(t.no_show)::numeric / nullif(sum(t.completed) + sum(t.no_show), 0), 4) AS no_show_rate,
        round(sum(t.cancelled)::numeric / nullif(sum(t.total), 0), 4) AS cancellation_rate,
        round(sum(t.lead_seconds) / nullif(sum(t.total), 0) / 3600, 2) AS average_lead_time_hours,
        round(sum(t.notice_seconds) / nullif(sum(t.notice_count), 0) / 3600, 2) AS average_cancellation_notice_hours,
        round(sum(t.wait_seconds) / nullif(sum(t.wait_count), 0) / 60, 2) AS average_wait_minutes,
        round(sum(t.service_seconds) / nullif(sum(t.service_count), 0) / 60, 2) AS average_service_minutes,
        round(sum(t.rating_sum)::numeric / nullif(sum(t.rating_count), 0), 2) AS average_rating,
        coalesce(sum(t.rating_count), 0) AS rating_count,
        count(DISTINCT t.organization_id) FILTER (WHERE t.total > 0) AS organizations,
        (
            SELECT count(*) FROM (
                SELECT DISTINCT a.citizen_id FROM appointments AS a
                WHERE a.starts_at >= CAST(:d_from AS date)::timestamp AT TIME ZONE 'UTC'
                  AND a.starts_at < (CAST(:d_to AS date) + 1)::timestamp AT TIME ZONE 'UTC'
            ) AS c
        ) AS citizens
    FROM insights_daily_totals AS t
    WHERE t.day >= :d_from AND t.day <= :d_to
    """
)

_SERVICES = text(
    f"""
    WITH {_RANGE_CTE},
    per_service AS (
        SELECT a.service_id, {_FIGURES} {_JOINS}
        GROUP BY a.service_id
    )
    SELECT s.id AS service_id, s.name AS service_name,
           coalesce(p.total, 0) AS total, coalesce(p.booked, 0) AS booked,
           coalesce(p.checked_in, 0) AS checked_in, coalesce(p.in_progress, 0) AS in_progress,
           coalesce(p.completed, 0) AS completed, coalesce(p.cancelled, 0) AS cancelled,
           coalesce(p.no_show, 0) AS no_show, p.no_show_rate, p.cancellation_rate,
           p.average_lead_time_hours, p.average_cancellation_notice_hours,
           p.average_wait_minutes, p.average_service_minutes, p.average_rating,
           coalesce(p.rating_count, 0) AS rating_count
    FROM services AS s
    LEFT JOIN per_service AS p ON p.service_id = s.id
    WHERE s.organization_id = :org
    ORDER BY coalesce(p.total, 0) DESC, s.name, s.id
    """
)

# Every day of the range, zeros included (generate_series), local dates.
_DAILY = text(
    f"""
    WITH {_RANGE_CTE},
    per_day AS (
        SELECT (a.starts_at AT TIME ZONE :tz)::date AS day, {_STATUS_COUNTS}
        FROM a
        GROUP BY 1
    )
    SELECT d.day::date AS date,
           coalesce(p.total, 0) AS total, coalesce(p.booked, 0) AS booked,
           coalesce(p.checked_in, 0) AS checked_in, coalesce(p.in_progress, 0) AS in_progress,
           coalesce(p.completed, 0) AS completed, coalesce(p.cancelled, 0) AS cancelled,
           coalesce(p.no_show, 0) AS no_show
    FROM generate_series(CAST(:d_from AS date), CAST(:d_to AS date), interval '1 day') AS d(day)
    LEFT JOIN per_day AS p ON p.day = d.day::date
    ORDER BY d.day
    """
)

# The 7 x 24 grid of local weekday (0 = Monday) and hour, zeros included.
_PEAK_HOURS = text(
    f"""
    WITH {_RANGE_CTE},
    per_cell AS (
        SELECT extract(isodow FROM a.starts_at AT TIME ZONE :tz)::int - 1 AS weekday,
               extract(hour FROM a.starts_at AT TIME ZONE :tz)::int AS hour,
               count(*) AS count
        FROM a
        WHERE a.status <> 'cancelled'
        GROUP BY 1, 2
    )
    SELECT w.weekday, h.hour, coalesce(p.count, 0) AS count
    FROM generate_series(0, 6) AS w(weekday)
    CROSS JOIN generate_series(0, 23) AS h(hour)
    LEFT JOIN per_cell AS p ON p.weekday = w.weekday AND p.hour = h.hour
    ORDER BY w.weekday, h.hour
    """
)


def _period_fields(period: Period) -> dict[str, Any]:
    return {
        "organization_id": period.organization_id,
        "timezone": period.timezone,
        "from": period.from_,
        "to": period.to,
    }


async def summary(session: AsyncSession, *, period: Period) -> dict[str, Any]:
    row = (await session.execute(_ORG_SUMMARY, period.params())).one()
    return _period_fields(period) | dict(row._mapping)


async def platform_summary(session: AsyncSession, *, period: Period) -> dict[str, Any]:
    row = (await session.execute(_PLATFORM_SUMMARY, period.params())).one()
    return _period_fields(period) | dict(row._mapping)


async def daily(session: AsyncSession, *, period: Period) -> list[dict[str, Any]]:
    rows = await session.execute(_DAILY, period.params())
    return [dict(row._mapping) for row in rows]


async def services(session: AsyncSession, *, period: Period) -> list[dict[str, Any]]:
    rows = await session.execute(_SERVICES, period.params())
    return [dict(row._mapping) for row in rows]


async def peak_hours(session: AsyncSession, *, period: Period) -> list[dict[str, Any]]:
    rows = await session.execute(_PEAK_HOURS, period.params())
    return [dict(row._mapping) for row in rows]
