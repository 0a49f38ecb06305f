"""A project's figures for its builder: units by status now, and the money of its active bookings.

The money is read from the instalments (`paid` is the sum of the payments allocated to each), with
the schedule's own rules for due dates and overdue (`app/services/unit_sales/schedule.py`), in the
organization's days: `due` counts what falls due up to and including today, `overdue` what is
still owed of instalments due before today.
"""

from datetime import datetime
from decimal import Decimal
from functools import partial

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.organizations import service as organizations_service
from app.services.properties import money, queries
from app.services.properties import service as properties_service
from app.services.properties.models import Project, Unit, UnitStatus
from app.services.property_dashboard.schemas import DashboardRead, UnitCounts
from app.services.unit_sales import schedule
from app.services.unit_sales.models import Booking, BookingStatus, Instalment


async def dashboard(session: AsyncSession, *, project: Project, now: datetime) -> DashboardRead:
    organization = await organizations_service.get_or_raise(session, project.organization_id)
    today = properties_service.local_today(organization, now)
    status = queries.unit_status(now)
    counts = {
        row.status: row.count
        for row in await session.execute(
            select(status.label("status"), func.count().label("count"))
            .where(Unit.project_id == project.id)
            .group_by(status)
        )
    }
    lines = (
        await session.scalars(
            select(Instalment)
            .join(Booking, Booking.id == Instalment.booking_id)
            .where(
                Booking.project_id == project.id,
                Booking.status.in_([BookingStatus.reserved, BookingStatus.sold]),
            )
        )
    ).all()
    figures = schedule.figures(lines, completed_on=project.completed_on, today=today)
    due = sum(
        (
            line.amount
            for line in lines
            if (day := schedule.due_on(line, completed_on=project.completed_on)) is not None and day <= today
        ),
        Decimal(0),
    )
    amount = partial(money.fmt, currency=project.currency)
    units = {status.value: counts.get(status.value, 0) for status in UnitStatus}
    return DashboardRead(
        currency=project.currency,
        as_of=today,
        units=UnitCounts(**units, total=sum(units.values())),
        sales_value=amount(figures.total),
        collected=amount(figures.paid),
        due=amount(due),
        overdue=amount(figures.overdue),
        outstanding=amount(figures.balance),
    )
