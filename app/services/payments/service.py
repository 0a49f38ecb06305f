"""Payments on unit bookings: recorded by staff, spread over the instalments, with receipts.

The booking's row is locked (`BookingStaff`) and its instalments too before the balance is read,
so two staff recording the same payment at once are counted one after the other: the second sees
the first's allocations and gets 422 `overpayment` if it no longer fits. The instalments' check
constraint (`paid <= amount`) refuses an over-allocation whatever happens above it.
"""

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import paging
from app.services.organizations.models import Organization
from app.services.payments.errors import (
    BookingNotActive,
    Overpayment,
    PaidInFuture,
    PaymentInstalmentUnknown,
    PaymentNotFound,
)
from app.services.payments.models import Payment, PaymentAllocation, ReceiptCounter
from app.services.payments.schemas import AllocationRead, PaymentCreate, PaymentMethod, PaymentRead, ReceiptRead
from app.services.properties import money
from app.services.properties.models import Project, Unit
from app.services.unit_sales import schedule
from app.services.unit_sales import service as unit_sales_service
from app.services.unit_sales.errors import BookingNotFound
from app.services.unit_sales.models import Booking, BookingStatus, Instalment
from app.services.users.models import User


async def record(
    session: AsyncSession, *, booking: Booking, actor: User, data: PaymentCreate, now: datetime
) -> Payment:
    if booking.status not in (BookingStatus.reserved, BookingStatus.sold):
        raise BookingNotActive()
    money.check(data.amount, booking.currency)
    context = (await unit_sales_service.contexts(session, [booking], now=now))[booking.id]
    if data.paid_on > context.today:
        raise PaidInFuture()
    lines = await unit_sales_service.get_instalments(session, booking.id, for_update=True)
    balance = sum((line.amount - line.paid for line in lines), Decimal(0))
    shares: list[tuple[Instalment, Decimal]]
    if data.instalment_id is not None:
        target = next((line for line in lines if line.id == data.instalment_id), None)
        if target is None:
            raise PaymentInstalmentUnknown()
        if data.amount > target.amount - target.paid:
            raise Overpayment("The amount is more than the instalment's outstanding amount.")
        shares = [(target, data.amount)]
    else:
        if data.amount > balance:
            raise Overpayment("The amount is more than the booking's balance.")
        shares = schedule.allocate(lines, data.amount, completed_on=context.completed_on, milestones=context.milestones)
    await unit_sales_service.apply_allocations(session, shares)
    payment = Payment(
        booking_id=booking.id,
        organization_id=booking.organization_id,
        amount=data.amount,
        currency=booking.currency,
        paid_on=data.paid_on,
        method=data.method,
        reference=data.reference,
        receipt_number=await _next_receipt_number(session, booking.organization_id),
        balance_after=balance - data.amount,
        recorded_by=actor.id,
        created_at=now,
    )
    session.add(payment)
    await session.flush()
    session.add_all(
        PaymentAllocation(payment_id=payment.id, instalment_id=line.id, amount=part) for line, part in shares
    )
    await session.flush()
    await session.refresh(payment)
    return payment


async def _next_receipt_number(session: AsyncSession, organization_id: uuid.UUID) -> int:
    statement = insert(ReceiptCounter).values(organization_id=organization_id, last_number=1)
    statement = statement.on_conflict_do_update(
        index_elements=[ReceiptCounter.organization_id],
        set_={"last_number": ReceiptCounter.last_number + 1},
    )
    number: int | None = await session.scalar(statement.returning(ReceiptCounter.last_number))
    assert number is not None
    return number


async def get_all(session: AsyncSession, *, booking: Booking, offset: int, limit: int) -> tuple[Sequence[Payment], int]:
    query = select(Payment).where(Payment.booking_id == booking.id)
    order = [Payment.created_at.desc(), Payment.receipt_number.desc()]
    return await paging.page_of(session, query, order_by=order, offset=offset, limit=limit)


async def get_visible(session: AsyncSession, *, payment_id: uuid.UUID, user: User) -> tuple[Payment, Booking]:
    """The buyer's, or the builder's staff's; 404 to everyone else."""
    payment = await session.get(Payment, payment_id)
    if payment is None:
        raise PaymentNotFound()
    try:
        booking = await unit_sales_service.get_visible(session, booking_id=payment.booking_id, user=user)
    except BookingNotFound as exc:
        raise PaymentNotFound() from exc
    return payment, booking


async def to_reads(session: AsyncSession, payments: Sequence[Payment]) -> list[PaymentRead]:
    # In the order the payment filled them: by due date (undated milestone lines last), then position.
    rows = await session.scalars(
        select(PaymentAllocation)
        .join(Instalment, Instalment.id == PaymentAllocation.instalment_id)
        .where(PaymentAllocation.payment_id.in_([p.id for p in payments]))
        .order_by(Instalment.due_on.asc().nulls_last(), Instalment.position)
    )
    allocations: dict[uuid.UUID, list[PaymentAllocation]] = {p.id: [] for p in payments}
    for row in rows:
        allocations[row.payment_id].append(row)
    return [_read(payment, allocations[payment.id]) for payment in payments]


def _read(payment: Payment, allocations: Sequence[PaymentAllocation]) -> PaymentRead:
    return PaymentRead(
        id=payment.id,
        booking_id=payment.booking_id,
        amount=money.fmt(payment.amount, payment.currency),
        currency=payment.currency,
        paid_on=payment.paid_on,
        method=PaymentMethod(payment.method),
        reference=payment.reference,
        receipt_number=payment.receipt_number,
        allocations=[
            AllocationRead(instalment_id=a.instalment_id, amount=money.fmt(a.amount, payment.currency))
            for a in allocations
        ],
        created_at=payment.created_at,
        updated_at=payment.updated_at,
    )


async def receipt(session: AsyncSession, *, payment: Payment, booking: Booking) -> ReceiptRead:
    row = (
        await session.execute(
            select(User.full_name, Unit.code, Project.name.label("project_name"), Organization.name.label("org_name"))
            .select_from(Booking)
            .join(User, User.id == Booking.customer_id)
            .join(Unit, Unit.id == Booking.unit_id)
            .join(Project, Project.id == Booking.project_id)
            .join(Organization, Organization.id == Booking.organization_id)
            .where(Booking.id == booking.id)
        )
    ).one()
    read = (await to_reads(session, [payment]))[0]
    return ReceiptRead(
        **read.model_dump(),
        booking_reference=booking.reference,
        buyer_name=row.full_name,
        unit_code=row.code,
        project_name=row.project_name,
        organization_name=row.org_name,
        balance_after=money.fmt(payment.balance_after, payment.currency),
    )
