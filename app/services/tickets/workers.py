"""The helpdesk's background pass: mark missed SLA targets and close solved tickets whose reopen
window has passed. Safe with several server processes on one database: a breach is claimed by
the conditional UPDATE of its flag (`tickets_service.mark_breaches`), a close by
`FOR UPDATE SKIP LOCKED` and the status condition.
"""

import logging
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.database import unit_of_work
from app.core.periodic import periodic_service
from app.core.settings import Settings
from app.services.tickets import service as tickets_service

logger = logging.getLogger(__name__)

BATCH = 200


async def run_pass(
    sessionmaker: async_sessionmaker[AsyncSession], *, settings: Settings, now: datetime | None = None
) -> int:
    """One pass in one transaction; returns how many breaches and closes it made."""
    now = now or datetime.now(UTC)
    async with unit_of_work(sessionmaker) as session:
        marked = await tickets_service.mark_breaches(session, now=now, limit=BATCH)
        closed = await tickets_service.close_expired(
            session, now=now, reopen_days=settings.ticket_reopen_days, limit=BATCH
        )
    return marked + closed


# The SLA pass of this process (on with the notification workers; see `create_app`).
sla_workers = periodic_service(
    "SLA", batch=BATCH, interval=lambda settings: settings.sla_breach_poll_seconds, run_pass=run_pass
)
