"""The builder's page of a project: what is sold, collected, due and overdue, as of today.

Computed from the same instalments and the same due-date rule as each booking's schedule
(`schedule.due_on`; overdue: due before today, whatever is outstanding), so its figures are the
sums of what the schedules show.
"""

from datetime import datetime
from decimal import Decimal
from functools import partial

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.services.properties import money
from app.services.properties import service as properties_service
from app.services.properties.models import Project, UnitStatus
from app.services.unit_sales import schedule
from app.services.unit_sales import service as unit_sales_service
from app.services.unit_sales.models import Booking, Instalment
from app.services.unit_sales.schemas import DashboardRead, UnitCounts


async def project_dashboard(session: AsyncSession, *, project: Project, now: datetime) -> DashboardRead:
    counts = await properties_service.unit_counts(session, project=project, now=now)
    bookings = (
        await session.scalars(
            select(Booking).where(Booking.project_id == project.id, Booking.status.in_(unit_sales_service.ACTIVE))
        )
    ).all()
    context = await unit_sales_service.project_context(session, project=project, now=now)
    lines = (await session.scalars(select(Instalment).where(Instalment.booking_id.in_([b.id for b in bookings])))).all()
    zero = Decimal(0)
    total = sum((line.amount for line in lines), zero)
    paid = sum((line.paid for line in lines), zero)
    due = zero
    overdue = zero
    for line in lines:
        due_on = schedule.due_on(line, completed_on=context.completed_on, milestones=context.milestones)
        if due_on is not None and due_on <= context.today:
            due += line.amount
        if due_on is not None and due_on < context.today:
            overdue += line.amount - line.paid
    amount = partial(money.fmt, currency=project.currency)
    return DashboardRead(
        currency=project.currency,
        as_of=context.today,
        units=UnitCounts(
            available=counts[UnitStatus.available],
            held=counts[UnitStatus.held],
            reserved=counts[UnitStatus.reserved],
            sold=counts[UnitStatus.sold],
            total=sum(counts.values()),
        ),
        sales_value=amount(total),
        collected=amount(paid),
        due=amount(due),
        overdue=amount(overdue),
        outstanding=amount(total - paid),
    )
