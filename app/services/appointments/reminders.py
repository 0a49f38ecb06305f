"""Appointment reminders: a background pass that tells citizens their appointment is near.

Safe with several server processes on one database: a reminder is claimed by inserting its
`sent_reminders` row (primary key appointment, start time, minutes before) in the transaction that
writes the notification, so exactly one process wins it and a rolled-back pass claims nothing.
`send_due_reminders` runs one pass; the tests call it directly.
"""

from datetime import UTC, datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.database import unit_of_work
from app.core.periodic import periodic_service
from app.core.settings import Settings
from app.services.appointments import announcements
from app.services.appointments.models import Appointment

REMINDER_BATCH = 200

# The most urgent reminder due for each booked appointment that has not had it yet: with 24 h and
# 1 h, an appointment 30 minutes away gets the 1 h reminder only, even if the 24 h one was missed
# while no worker ran. A reminder is due only if the booking was made before its time (someone
# who books 10 hours ahead gets the booking e-mail, not a "tomorrow" reminder right after it).
# NOT EXISTS keeps reminders already sent out of the LIMIT; ON CONFLICT settles two concurrent
# passes (the second waits for the first's commit on the primary key, then skips the row).
_CLAIM_REMINDERS = text(
    """
    INSERT INTO sent_reminders (appointment_id, starts_at, minutes_before, sent_at)
    SELECT a.id, a.starts_at, due.minutes, :now
    FROM appointments AS a
    CROSS JOIN LATERAL (
        SELECT min(o) AS minutes
        FROM unnest(CAST(:offsets AS integer[])) AS o
        WHERE a.starts_at - make_interval(mins => o) <= :now
    ) AS due
    WHERE a.status = 'booked'
      AND a.starts_at > :now
      AND a.starts_at <= :now + make_interval(mins => :horizon)
      AND due.minutes IS NOT NULL
      AND a.created_at <= a.starts_at - make_interval(mins => due.minutes)
      AND NOT EXISTS (
          SELECT 1 FROM sent_reminders AS s
          WHERE s.appointment_id = a.id AND s.starts_at = a.starts_at AND s.minutes_before = due.minutes
      )
    ORDER BY a.starts_at
    LIMIT :limit
    ON CONFLICT DO NOTHING
    RETURNING appointment_id, minutes_before
    """
)


async def send_due_reminders(
    session: AsyncSession, *, settings: Settings, now: datetime | None = None, limit: int = REMINDER_BATCH
) -> int:
    """Claim the reminders due at `now` and notify (and e-mail) their citizens, in the caller's
    transaction. Returns how many were claimed."""
    offsets = settings.reminder_minutes_before
    if not offsets:
        return 0
    now = now or datetime.now(UTC)
    claimed = (
        await session.execute(
            _CLAIM_REMINDERS,
            {"now": now, "offsets": offsets, "horizon": max(offsets), "limit": limit},
        )
    ).all()
    if not claimed:
        return 0
    minutes_by_id = {row.appointment_id: row.minutes_before for row in claimed}
    appointments = await session.scalars(select(Appointment).where(Appointment.id.in_(minutes_by_id)))
    for appointment in appointments:
        await announcements.announce_appointment(
            session, appointment=appointment, kind="reminder", actor=None, minutes_before=minutes_by_id[appointment.id]
        )
    return len(claimed)


async def run_reminders_once(sessionmaker: async_sessionmaker[AsyncSession], *, settings: Settings) -> int:
    async with unit_of_work(sessionmaker) as session:
        return await send_due_reminders(session, settings=settings)


# The reminder loop of this process (see `create_app`'s `background`; on with the notification
# workers, `NOTIFICATION_WORKERS`).
reminder_worker = periodic_service(
    "reminders",
    batch=REMINDER_BATCH,
    interval=lambda settings: settings.reminder_poll_seconds,
    run_pass=run_reminders_once,
)
