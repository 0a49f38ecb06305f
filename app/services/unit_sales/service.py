"""Unit bookings: made from a running hold with a payment plan, confirmed as sold by staff,
cancelled by the buyer (nothing paid yet) or staff; every move kept in a history.

Locks are always taken in one order, the hold or booking row first and the unit's row second, so
that holds, bookings, cancellations and payments never deadlock one another.
"""

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import partial

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import paging
from app.core.errors import PermissionDenied
from app.services.organizations import service as organizations_service
from app.services.organizations.models import Organization
from app.services.properties import money
from app.services.properties import service as properties_service
from app.services.properties.models import Milestone, Project, Unit
from app.services.unit_sales import holds as holds_service
from app.services.unit_sales import plans as plans_service
from app.services.unit_sales import schedule
from app.services.unit_sales.errors import (
    BookingNotFound,
    BookingTransition,
    DownPaymentMissing,
    HoldExpired,
    HoldNotActive,
    HoldNotFound,
    InstalmentNotFound,
    InvalidPlan,
    PaymentsRecorded,
)
from app.services.unit_sales.models import (
    Booking,
    BookingEvent,
    BookingStatus,
    Hold,
    HoldState,
    HoldStatus,
    Instalment,
    PaymentPlan,
    Trigger,
)
from app.services.unit_sales.schemas import BookingRead, InstalmentRead, ScheduleRead
from app.services.users.models import User

REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
REFERENCE_LENGTH = 10
ACTIVE = (BookingStatus.reserved, BookingStatus.sold)


def new_reference() -> str:
    return "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


async def book(
    session: AsyncSession, *, customer: User, hold_id: uuid.UUID, payment_plan_id: uuid.UUID, now: datetime
) -> Booking:
    """Atomically: the hold becomes `booked`, the unit `reserved` at its price now, the schedule made."""
    hold = await session.get(Hold, hold_id, with_for_update=True)
    if hold is None:
        raise HoldNotFound()
    if hold.customer_id != customer.id:
        if await properties_service.is_staff(session, user=customer, organization_id=hold.organization_id):
            raise PermissionDenied("Only the customer who holds the unit can book it.")
        raise HoldNotFound()
    status = holds_service.status_of(hold, now)
    if status == HoldStatus.expired:
        raise HoldExpired()
    if status != HoldStatus.active:
        raise HoldNotActive()
    plan = await session.get(PaymentPlan, payment_plan_id)
    if plan is None or plan.project_id != hold.project_id or not plan.active:
        raise InvalidPlan()
    lines = await plans_service.get_lines(session, plan.id)
    booking_id = uuid.uuid4()
    price = await properties_service.reserve(
        session, unit_id=hold.unit_id, hold_id=hold.id, booking_id=booking_id, now=now
    )
    if price is None:
        raise HoldExpired()
    project = await properties_service.get_project(session, hold.project_id)
    organization = await organizations_service.get_or_raise(session, project.organization_id)
    booked_on = properties_service.local_today(organization, now)
    hold.state = HoldState.booked
    hold.ended_at = now
    booking = Booking(
        id=booking_id,
        reference=new_reference(),
        unit_id=hold.unit_id,
        project_id=hold.project_id,
        organization_id=hold.organization_id,
        customer_id=customer.id,
        hold_id=hold.id,
        payment_plan_id=plan.id,
        status=BookingStatus.reserved,
        price=price,
        currency=project.currency,
        booked_on=booked_on,
        delay_days=0,
        created_at=now,
    )
    session.add(booking)
    await session.flush()
    amounts = schedule.amounts(lines, price=price, currency=project.currency)
    session.add_all(
        Instalment(
            booking_id=booking.id,
            position=line.position,
            label=line.label,
            kind="plan",
            trigger=line.trigger,
            milestone_id=line.milestone_id,
            offset_days=line.offset_days,
            due_on=schedule.first_due_on(line, booked_on=booked_on),
            amount=amount,
            paid=Decimal(0),
        )
        for line, amount in zip(lines, amounts, strict=True)
    )
    session.add(
        BookingEvent(booking_id=booking.id, from_status=None, to_status=BookingStatus.reserved, actor_id=customer.id)
    )
    await session.flush()
    await session.refresh(booking)
    return booking


async def get_visible(session: AsyncSession, *, booking_id: uuid.UUID, user: User, for_update: bool = False) -> Booking:
    """The buyer's, or their builder's staff's; 404 to everyone else."""
    booking = await session.get(Booking, booking_id, with_for_update=for_update)
    if booking is None or not await properties_service.is_customer_or_staff(
        session, user=user, customer_id=booking.customer_id, organization_id=booking.organization_id
    ):
        raise BookingNotFound()
    return booking


async def _move(session: AsyncSession, *, booking: Booking, to: BookingStatus, actor: User, note: str | None) -> None:
    session.add(
        BookingEvent(booking_id=booking.id, from_status=booking.status, to_status=to, actor_id=actor.id, note=note)
    )
    booking.status = to


async def get_instalments(
    session: AsyncSession, booking_id: uuid.UUID, *, for_update: bool = False
) -> list[Instalment]:
    query = select(Instalment).where(Instalment.booking_id == booking_id).order_by(Instalment.position)
    if for_update:
        query = query.with_for_update()
    return list((await session.scalars(query)).all())


async def confirm(session: AsyncSession, *, booking: Booking, actor: User, now: datetime) -> Booking:
    if booking.status != BookingStatus.reserved:
        raise BookingTransition(f"A {booking.status} booking cannot be confirmed.")
    lines = await get_instalments(session, booking.id)
    if lines and lines[0].paid < lines[0].amount:
        raise DownPaymentMissing()
    await _move(session, booking=booking, to=BookingStatus.sold, actor=actor, note=None)
    booking.sold_at = now
    await properties_service.mark_sold(session, unit_id=booking.unit_id, booking_id=booking.id)
    await session.flush()
    await session.refresh(booking)
    return booking


async def cancel(session: AsyncSession, *, booking: Booking, actor: User, reason: str | None, now: datetime) -> Booking:
    """Staff cancel an active booking; the buyer only while nothing is paid. The unit is free again."""
    if booking.status not in ACTIVE:
        raise BookingTransition("The booking is already cancelled.")
    if not await properties_service.is_staff(session, user=actor, organization_id=booking.organization_id):
        lines = await get_instalments(session, booking.id)
        if any(line.paid > 0 for line in lines):
            raise PaymentsRecorded()
    await _move(session, booking=booking, to=BookingStatus.cancelled, actor=actor, note=reason)
    booking.cancelled_at = now
    await properties_service.end_booking(session, unit_id=booking.unit_id, booking_id=booking.id)
    await session.flush()
    await session.refresh(booking)
    return booking


async def history(session: AsyncSession, *, booking: Booking) -> Sequence[BookingEvent]:
    rows = await session.scalars(
        select(BookingEvent).where(BookingEvent.booking_id == booking.id).order_by(BookingEvent.at, BookingEvent.id)
    )
    return rows.all()


async def get_all(
    session: AsyncSession,
    *,
    customer: User | None = None,
    project: Project | None = None,
    status: BookingStatus | None = None,
    q: str | None = None,
    offset: int,
    limit: int,
) -> tuple[Sequence[Booking], int]:
    query = select(Booking)
    if customer is not None:
        query = query.where(Booking.customer_id == customer.id)
    if project is not None:
        query = query.where(Booking.project_id == project.id)
    if status is not None:
        query = query.where(Booking.status == status)
    if q:
        pattern = paging.contains(q)
        query = (
            query.join(Unit, Unit.id == Booking.unit_id)
            .join(User, User.id == Booking.customer_id)
            .where(
                or_(
                    Booking.reference.ilike(pattern),
                    Unit.code.ilike(pattern),
                    User.full_name.ilike(pattern),
                    User.email.ilike(pattern),
                )
            )
        )
    order = [Booking.created_at.desc(), Booking.id.desc()]
    return await paging.page_of(session, query, order_by=order, offset=offset, limit=limit)


# --- reading the money of a booking --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Context:
    """What a booking's figures depend on beyond its instalments: the handover day, the days its
    project's milestones were completed, and today."""

    completed_on: date | None
    today: date
    milestones: schedule.Milestones


async def project_contexts(
    session: AsyncSession, project_ids: set[uuid.UUID], *, now: datetime
) -> dict[uuid.UUID, Context]:
    rows = await session.execute(
        select(Project.id, Project.completed_on, Organization.timezone)
        .join(Organization, Organization.id == Project.organization_id)
        .where(Project.id.in_(project_ids))
    )
    reached: dict[uuid.UUID, dict[uuid.UUID, date | None]] = {project_id: {} for project_id in project_ids}
    milestones = await session.execute(
        select(Milestone.project_id, Milestone.id, Milestone.completed_on).where(Milestone.project_id.in_(project_ids))
    )
    for project_id, milestone_id, completed_on in milestones:
        reached[project_id][milestone_id] = completed_on
    by_project = {
        row.id: Context(
            completed_on=row.completed_on,
            today=properties_service.zone_today(row.timezone, now),
            milestones=reached[row.id],
        )
        for row in rows
    }
    return by_project


async def project_context(session: AsyncSession, *, project: Project, now: datetime) -> Context:
    return (await project_contexts(session, {project.id}, now=now))[project.id]


async def contexts(session: AsyncSession, bookings: Sequence[Booking], *, now: datetime) -> dict[uuid.UUID, Context]:
    """Each booking's context, by booking id."""
    by_project = await project_contexts(session, {booking.project_id for booking in bookings}, now=now)
    return {booking.id: by_project[booking.project_id] for booking in bookings}


async def to_reads(session: AsyncSession, bookings: Sequence[Booking], *, now: datetime) -> list[BookingRead]:
    if not bookings:
        return []
    context = await contexts(session, bookings, now=now)
    rows = await session.scalars(select(Instalment).where(Instalment.booking_id.in_([b.id for b in bookings])))
    lines: dict[uuid.UUID, list[Instalment]] = {booking.id: [] for booking in bookings}
    for line in rows:
        lines[line.booking_id].append(line)
    return [_read(booking, lines[booking.id], context[booking.id]) for booking in bookings]


async def to_read(session: AsyncSession, booking: Booking, *, now: datetime) -> BookingRead:
    return (await to_reads(session, [booking], now=now))[0]


def _figures(lines: Sequence[Instalment], context: Context) -> schedule.Figures:
    return schedule.figures(
        lines, completed_on=context.completed_on, today=context.today, milestones=context.milestones
    )


def _read(booking: Booking, lines: Sequence[Instalment], context: Context) -> BookingRead:
    figures = schedule.figures(
        lines, completed_on=context.completed_on, today=context.today, milestones=context.milestones
    )
    amount = partial(money.fmt, currency=booking.currency)
    return BookingRead(
        id=booking.id,
        reference=booking.reference,
        unit_id=booking.unit_id,
        project_id=booking.project_id,
        organization_id=booking.organization_id,
        customer_id=booking.customer_id,
        payment_plan_id=booking.payment_plan_id,
        status=BookingStatus(booking.status),
        price=amount(booking.price),
        currency=booking.currency,
        total=amount(figures.total),
        paid=amount(figures.paid),
        balance=amount(figures.balance),
        overdue_amount=amount(figures.overdue),
        delay_days=booking.delay_days,
        sold_at=booking.sold_at,
        cancelled_at=booking.cancelled_at,
        created_at=booking.created_at,
        updated_at=booking.updated_at,
    )


async def get_schedule(session: AsyncSession, *, booking: Booking, now: datetime) -> ScheduleRead:
    context = (await contexts(session, [booking], now=now))[booking.id]
    lines = await get_instalments(session, booking.id)
    figures = schedule.figures(
        lines, completed_on=context.completed_on, today=context.today, milestones=context.milestones
    )
    amount = partial(money.fmt, currency=booking.currency)
    return ScheduleRead(
        booking_id=booking.id,
        currency=booking.currency,
        total=amount(figures.total),
        paid=amount(figures.paid),
        balance=amount(figures.balance),
        overdue_amount=amount(figures.overdue),
        instalments=[instalment_read(line, booking=booking, context=context) for line in lines],
    )


def instalment_read(line: Instalment, *, booking: Booking, context: Context) -> InstalmentRead:
    outstanding = line.amount - line.paid
    return InstalmentRead(
        id=line.id,
        position=line.position,
        label=line.label,
        kind="change_request" if line.kind == "change_request" else "plan",
        change_request_id=line.change_request_id,
        trigger=Trigger(line.trigger),
        due_on=schedule.due_on(line, completed_on=context.completed_on, milestones=context.milestones),
        amount=money.fmt(line.amount, booking.currency),
        paid=money.fmt(line.paid, booking.currency),
        outstanding=money.fmt(outstanding, booking.currency),
        status="paid" if outstanding == 0 else ("unpaid" if line.paid == 0 else "partial"),
        overdue=schedule.is_overdue(
            line, completed_on=context.completed_on, today=context.today, milestones=context.milestones
        ),
    )


async def get_instalment_visible(
    session: AsyncSession, *, instalment_id: uuid.UUID, user: User
) -> tuple[Instalment, Booking]:
    instalment = await session.get(Instalment, instalment_id, with_for_update=True)
    if instalment is None:
        raise InstalmentNotFound()
    try:
        booking = await get_visible(session, booking_id=instalment.booking_id, user=user)
    except BookingNotFound as exc:
        raise InstalmentNotFound() from exc
    return instalment, booking


async def set_due_on(
    session: AsyncSession, *, instalment: Instalment, booking: Booking, due_on: date, now: datetime
) -> InstalmentRead:
    instalment.due_on = due_on
    await session.flush()
    await session.refresh(instalment)
    context = (await contexts(session, [booking], now=now))[booking.id]
    return instalment_read(instalment, booking=booking, context=context)


async def apply_allocations(session: AsyncSession, shares: Sequence[tuple[Instalment, Decimal]]) -> None:
    """Add a payment's shares to the instalments' `paid` (the rows are locked by the caller)."""
    for line, part in shares:
        line.paid = line.paid + part
    await session.flush()


# --- what construction (part 2) needs of bookings ------------------------------------------------


async def active_customer_ids(session: AsyncSession, *, project_id: uuid.UUID) -> list[uuid.UUID]:
    """Each customer with an active booking in the project, once."""
    rows = await session.scalars(
        select(Booking.customer_id)
        .where(Booking.project_id == project_id, Booking.status.in_(ACTIVE))
        .distinct()
        .order_by(Booking.customer_id)
    )
    return list(rows)


async def is_active_buyer(session: AsyncSession, *, user: User, project_id: uuid.UUID) -> bool:
    found = await session.scalar(
        select(Booking.id)
        .where(Booking.project_id == project_id, Booking.customer_id == user.id, Booking.status.in_(ACTIVE))
        .limit(1)
    )
    return found is not None


async def add_change(
    session: AsyncSession,
    *,
    booking: Booking,
    label: str,
    amount: Decimal,
    days: int,
    change_request_id: uuid.UUID,
    now: datetime,
) -> Instalment | None:
    """An accepted change: `days` more delay and, for a positive amount, an instalment due that
    day (in the builder's zone). The booking's row is locked by the caller."""
    booking.delay_days = booking.delay_days + days
    instalment = None
    if amount > 0:
        context = (await contexts(session, [booking], now=now))[booking.id]
        last = await session.scalar(select(func.max(Instalment.position)).where(Instalment.booking_id == booking.id))
        instalment = Instalment(
            booking_id=booking.id,
            position=(last or 0) + 1,
            label=label,
            kind="change_request",
            change_request_id=change_request_id,
            trigger=Trigger.date,
            offset_days=0,
            due_on=context.today,
            amount=amount,
            paid=Decimal(0),
        )
        session.add(instalment)
    await session.flush()
    return instalment
