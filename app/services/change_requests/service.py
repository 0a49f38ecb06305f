"""Change requests: requested -> quoted (staff) or declined (staff); quoted -> accepted or rejected
(buyer); requested or quoted -> withdrawn (buyer). Every move locks the request's row first, so
of two moves racing (an accept and a withdraw) one wins and the other finds the new status: 409.
An accepted quote adds its positive amount as an instalment due that day and its days to the
booking's `delay_days`, in the same transaction.
"""

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import paging
from app.core.errors import PermissionDenied
from app.services.change_requests.errors import ChangeBookingNotActive, ChangeRequestNotFound, ChangeTransition
from app.services.change_requests.models import ChangeRequest, ChangeRequestEvent, ChangeStatus
from app.services.change_requests.schemas import ChangeRequestCreate, ChangeRequestRead, QuoteRequest
from app.services.properties import money
from app.services.properties import service as properties_service
from app.services.properties.models import Project
from app.services.unit_sales import service as unit_sales_service
from app.services.unit_sales.models import Booking
from app.services.users.models import User

# Each verb: who may use it (staff or the buyer), the statuses it leaves, and where it goes.
MOVES: dict[str, tuple[bool, frozenset[ChangeStatus], ChangeStatus]] = {
    "quote": (True, frozenset({ChangeStatus.requested}), ChangeStatus.quoted),
    "decline": (True, frozenset({ChangeStatus.requested}), ChangeStatus.declined),
    "accept": (False, frozenset({ChangeStatus.quoted}), ChangeStatus.accepted),
    "reject": (False, frozenset({ChangeStatus.quoted}), ChangeStatus.rejected),
    "withdraw": (False, frozenset({ChangeStatus.requested, ChangeStatus.quoted}), ChangeStatus.withdrawn),
}


async def create(
    session: AsyncSession, *, booking: Booking, customer: User, data: ChangeRequestCreate
) -> ChangeRequest:
    if booking.customer_id != customer.id:
        raise PermissionDenied("Only the buyer asks for changes to their unit.")
    if booking.status not in unit_sales_service.ACTIVE:
        raise ChangeBookingNotActive()
    change = ChangeRequest(
        booking_id=booking.id,
        unit_id=booking.unit_id,
        project_id=booking.project_id,
        organization_id=booking.organization_id,
        customer_id=customer.id,
        status=ChangeStatus.requested,
        title=data.title,
        description=data.description,
    )
    session.add(change)
    await session.flush()
    session.add(
        ChangeRequestEvent(
            change_request_id=change.id, from_status=None, to_status=ChangeStatus.requested, actor_id=customer.id
        )
    )
    await session.flush()
    await session.refresh(change)
    return change


async def get_visible(
    session: AsyncSession, *, change_request_id: uuid.UUID, user: User, for_update: bool = False
) -> ChangeRequest:
    """The buyer's, or the builder's staff's; 404 to everyone else."""
    change = await session.get(ChangeRequest, change_request_id, with_for_update=for_update)
    if change is None or not await properties_service.is_customer_or_staff(
        session, user=user, customer_id=change.customer_id, organization_id=change.organization_id
    ):
        raise ChangeRequestNotFound()
    return change


async def move(
    session: AsyncSession,
    *,
    change: ChangeRequest,
    verb: str,
    actor: User,
    note: str | None,
    now: datetime,
    quote: QuoteRequest | None = None,
) -> ChangeRequest:
    staff_only, sources, target = MOVES[verb]
    is_staff = await properties_service.is_staff(session, user=actor, organization_id=change.organization_id)
    allowed = is_staff if staff_only else change.customer_id == actor.id
    if not allowed:
        raise PermissionDenied(f"Only {'the builder' if staff_only else 'the buyer'} can {verb} a change request.")
    if change.status not in sources:
        raise ChangeTransition(f"A {change.status} change request cannot be {target}.")
    if quote is not None:
        booking = await session.get(Booking, change.booking_id)
        assert booking is not None
        change.amount = money.check(quote.amount, booking.currency)
        change.days = quote.days
        change.quote_note = quote.note
    if target == ChangeStatus.accepted:
        booking = await unit_sales_service.get_visible(
            session, booking_id=change.booking_id, user=actor, for_update=True
        )
        if booking.status not in unit_sales_service.ACTIVE:
            raise ChangeTransition("The booking is no longer active.")
        assert change.amount is not None
        assert change.days is not None
        instalment = await unit_sales_service.add_change(
            session,
            booking=booking,
            label=change.title,
            amount=change.amount,
            days=change.days,
            change_request_id=change.id,
            now=now,
        )
        change.instalment_id = instalment.id if instalment is not None else None
    session.add(
        ChangeRequestEvent(
            change_request_id=change.id, from_status=change.status, to_status=target, actor_id=actor.id, note=note
        )
    )
    change.status = target
    await session.flush()
    await session.refresh(change)
    return change


async def history(session: AsyncSession, *, change: ChangeRequest) -> Sequence[ChangeRequestEvent]:
    rows = await session.scalars(
        select(ChangeRequestEvent)
        .where(ChangeRequestEvent.change_request_id == change.id)
        .order_by(ChangeRequestEvent.at, ChangeRequestEvent.id)
    )
    return rows.all()


async def get_all(
    session: AsyncSession,
    *,
    booking: Booking | None = None,
    project: Project | None = None,
    status: ChangeStatus | None = None,
    offset: int,
    limit: int,
) -> tuple[Sequence[ChangeRequest], int]:
    query = select(ChangeRequest)
    if booking is not None:
        query = query.where(ChangeRequest.booking_id == booking.id)
    if project is not None:
        query = query.where(ChangeRequest.project_id == project.id)
    if status is not None:
        query = query.where(ChangeRequest.status == status)
    order = [ChangeRequest.created_at.desc(), ChangeRequest.id.desc()]
    return await paging.page_of(session, query, order_by=order, offset=offset, limit=limit)


async def to_reads(session: AsyncSession, changes: Sequence[ChangeRequest]) -> list[ChangeRequestRead]:
    rows = await session.execute(
        select(Booking.id, Booking.currency).where(Booking.id.in_({c.booking_id for c in changes}))
    )
    currencies: dict[uuid.UUID, str] = dict(rows.all())
    return [
        ChangeRequestRead(
            id=change.id,
            booking_id=change.booking_id,
            unit_id=change.unit_id,
            status=ChangeStatus(change.status),
            title=change.title,
            description=change.description,
            amount=None if change.amount is None else money.fmt(change.amount, currencies[change.booking_id]),
            days=change.days,
            quote_note=change.quote_note,
            instalment_id=change.instalment_id,
            created_at=change.created_at,
            updated_at=change.updated_at,
        )
        for change in changes
    ]
