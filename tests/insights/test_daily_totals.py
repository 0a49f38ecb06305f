"""The platform roll-up (`insights_daily_totals`, kept by triggers) always equals a recount."""

import asyncio
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.appointments.models import Appointment, Status
from app.services.insights.models import DailyTotal
from app.services.ratings.models import Rating
from tests.factories import ROUND_THE_CLOCK, book, create_org, create_service, local_slot
from tests.helpers import register
from tests.insights.test_routes import _data_set

# The same figures, counted from the appointments themselves, written independently of the triggers.
RECOUNT = text(
    """
    SELECT a.organization_id, (a.starts_at AT TIME ZONE 'UTC')::date AS day,
        count(*) AS total,
        count(*) FILTER (WHERE a.status = 'booked') AS booked,
        count(*) FILTER (WHERE a.status = 'checked_in') AS checked_in,
        count(*) FILTER (WHERE a.status = 'in_progress') AS in_progress,
        count(*) FILTER (WHERE a.status = 'completed') AS completed,
        count(*) FILTER (WHERE a.status = 'cancelled') AS cancelled,
        count(*) FILTER (WHERE a.status = 'no_show') AS no_show,
        sum(extract(epoch FROM a.starts_at - a.created_at)) AS lead_seconds,
        coalesce(sum(extract(epoch FROM a.starts_at - a.cancelled_at)) FILTER (WHERE a.status = 'cancelled'), 0)
            AS notice_seconds,
        count(a.cancelled_at) FILTER (WHERE a.status = 'cancelled') AS notice_count,
        coalesce(sum(extract(epoch FROM a.started_at - a.checked_in_at)), 0) AS wait_seconds,
        count(a.started_at - a.checked_in_at) AS wait_count,
        coalesce(sum(extract(epoch FROM a.completed_at - a.started_at)), 0) AS service_seconds,
        count(a.completed_at - a.started_at) AS service_count,
        coalesce(sum(r.score), 0) AS rating_sum,
        count(r.id) AS rating_count
    FROM appointments AS a
    LEFT JOIN ratings AS r ON r.appointment_id = a.id AND a.status = 'completed'
    GROUP BY 1, 2
    """
)


def _figures(rows: Any) -> dict[tuple[Any, Any], tuple[Decimal, ...]]:
    figures = {}
    for row in rows:
        key, values = (row[0], row[1]), tuple(Decimal(v) for v in row[2:])
        if any(values):  # a day whose appointments all went away is a row of zeros
            figures[key] = values
    return figures


async def _assert_roll_up_is_exact(session: AsyncSession) -> None:
    stored_columns = list(DailyTotal.__table__.c)
    stored = _figures((await session.execute(select(*stored_columns))).all())
    assert stored == _figures((await session.execute(RECOUNT)).all())
    assert stored  # the data set is not empty


async def test_roll_up_follows_every_change(client: httpx.AsyncClient, session: AsyncSession) -> None:
    await _data_set(client, session)  # history-driven moves, ratings, a cancellation, time-zone edges
    await _assert_roll_up_is_exact(session)

    org = await create_org(client, session)
    service = await create_service(client, org, capacity=3, weekly=ROUND_THE_CLOCK)
    citizens = [await register(client) for _ in range(6)]
    # Concurrent bookings of one organization and day update the same roll-up row.
    booked = await asyncio.gather(
        *(book(client, c, service["id"], local_slot(org.timezone, hour=9 + i)) for i, c in enumerate(citizens))
    )
    ids = [r.json()["id"] for r in booked]
    assert all(r.status_code == 201 for r in booked)
    await client.post(f"/appointments/{ids[0]}/cancel", headers=citizens[0].headers, json={})
    moved = await client.post(
        f"/appointments/{ids[1]}/reschedule",
        headers=citizens[1].headers,
        json={"starts_at": local_slot(org.timezone, days_ahead=9, hour=9).isoformat()},
    )
    assert moved.status_code == 200, moved.text
    await client.post(f"/appointments/{ids[2]}/status", headers=org.staff.headers, json={"status": "no_show"})
    session.expire_all()
    await _assert_roll_up_is_exact(session)

    # Deletes: a rating on its own, and an appointment that takes its rating with it.
    rated = (await session.scalars(select(Rating.appointment_id).limit(2))).all()
    await session.execute(delete(Rating).where(Rating.appointment_id == rated[0]))
    await session.execute(delete(Appointment).where(Appointment.id == rated[1]))
    await session.execute(delete(Appointment).where(Appointment.status == Status.no_show))
    await session.commit()
    await _assert_roll_up_is_exact(session)
