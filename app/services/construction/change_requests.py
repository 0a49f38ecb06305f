"""Buyers' change requests to their unit, with the builder's quote.

    requested --quote (staff)--> quoted --accept (buyer)--> accepted
    requested --decline (staff)--> declined      quoted --reject (buyer)--> rejected
    requested | quoted --withdraw (buyer)--> withdrawn

Every move is one conditional update of the request's row (`WHERE status IN (<the states it may
leave>)`): of two moves racing (accept and withdraw), the second re-reads the row once the first
commits and finds it moved, a 409 `invalid_transition`. Accepting also locks the booking's row
first (the lock order of bookings: booking, then what hangs off it) and adds a positive amount as
the booking's last instalment, due that day, and `days` to its `delay_days`.
"""

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import paging
from app.core.errors import PermissionDenied
from app.services.construction.errors import (
    ChangeRequestBookingNotActive,
    ChangeRequestNotFound,
    ChangeRequestTransition,
)
from app.services.construction.models import ChangeRequest, ChangeRequestEvent, ChangeRequestStatus
from app.services.construction.schemas import ChangeRequestCreate, ChangeRequestQuote, ChangeRequestRead
from app.services.properties import money
from app.services.properties import service as properties_service
from app.services.properties.models import Project
from app.services.unit_sales import service as unit_sales_service
from app.services.unit_sales.errors import BookingNotFound
from app.services.unit_sales.models import Booking, BookingStatus
from app.services.users.models import User

S = ChangeRequestStatus
ACTIVE = (BookingStatus.reserved, BookingStatus.sold)


async def create(
    session: AsyncSession, *, booking: Booking, customer: User, data: ChangeRequestCreate
) -> ChangeRequest:
    """The buyer asks for a change to their unit (an active booking)."""
    if booking.customer_id != customer.id:
        raise PermissionDenied("Only the buyer asks for changes to their unit.")
    if booking.status not in ACTIVE:
        raise ChangeRequestBookingNotActive()
    request = ChangeRequest(
        booking_id=booking.id,
        unit_id=booking.unit_id,
        project_id=booking.project_id,
        organization_id=booking.organization_id,
        customer_id=booking.customer_id,
        status=S.requested,
        title=data.title,
        description=data.description,
    )
    session.add(request)
    await session.flush()
    session.add(
        ChangeRequestEvent(change_request_id=request.id, from_status=None, to_status=S.requested, actor_id=customer.id)
    )
    await session.flush()
    await session.refresh(request)
    return request


async def get_visible(
    session: AsyncSession, *, change_request_id: uuid.UUID, user: User
) -> tuple[ChangeRequest, Booking]:
    """The buyer's, or their builder's staff's; 404 to everyone else."""
    request = await session.get(ChangeRequest, change_request_id)
    if request is None:
        raise ChangeRequestNotFound()
    try:
        booking = await unit_sales_service.get_visible(session, booking_id=request.booking_id, user=user)
    except BookingNotFound as exc:
        raise ChangeRequestNotFound() from exc
    return request, booking


async def _is_staff(session: AsyncSession, *, user: User, booking: Booking) -> bool:
    return await properties_service.is_staff(session, user=user, organization_id=booking.organization_id)


async def _move(
    session: AsyncSession,
    *,
    request: ChangeRequest,
    allowed: Sequence[ChangeRequestStatus],
    to: ChangeRequestStatus,
    actor: User,
    note: str | None,
    values: dict[str, Any] | None = None,
) -> ChangeRequest:
    """One conditional update: the request moves only from one of `allowed`, whatever races it."""
    before = await session.scalar(select(ChangeRequest.status).where(ChangeRequest.id == request.id).with_for_update())
    moved = await session.scalar(
        update(ChangeRequest)
        .where(ChangeRequest.id == request.id, ChangeRequest.status.in_([s.value for s in allowed]))
        .values(status=to, **(values or {}))
        .returning(ChangeRequest.id)
    )
    if moved is None:
        raise ChangeRequestTransition(f"A {before} change request cannot become {to}.")
    session.add(
        ChangeRequestEvent(change_request_id=request.id, from_status=before, to_status=to, actor_id=actor.id, note=note)
    )
    await session.flush()
    await session.refresh(request)
    return request


async def _require_staff(session: AsyncSession, *, user: User, booking: Booking) -> None:
    if not await _is_staff(session, user=user, booking=booking):
        raise PermissionDenied("Only the builder's staff answer change requests.")


def _require_buyer(user: User, booking: Booking) -> None:
    if booking.customer_id != user.id:
        raise PermissionDenied("Only the buyer decides on their change request.")


async def quote(
    session: AsyncSession, *, request: ChangeRequest, booking: Booking, actor: User, data: ChangeRequestQuote
) -> ChangeRequest:
    await _require_staff(session, user=actor, booking=booking)
    money.check(data.amount, booking.currency)
    if booking.status not in ACTIVE:
        raise ChangeRequestBookingNotActive()
    values = {"amount": data.amount, "days": data.days, "quote_note": data.note}
    return await _move(
        session, request=request, allowed=[S.requested], to=S.quoted, actor=actor, note=data.note, values=values
    )


async def decline(
    session: AsyncSession, *, request: ChangeRequest, booking: Booking, actor: User, reason: str
) -> ChangeRequest:
    await _require_staff(session, user=actor, booking=booking)
    return await _move(session, request=request, allowed=[S.requested], to=S.declined, actor=actor, note=reason)


async def accept(
    session: AsyncSession, *, request: ChangeRequest, booking: Booking, actor: User, now: datetime
) -> ChangeRequest:
    """The buyer accepts the quote: a positive amount is added to their schedule, due today."""
    _require_buyer(actor, booking)
    locked = await unit_sales_service.get_visible(session, booking_id=booking.id, user=actor, for_update=True)
    if locked.status not in ACTIVE:
        raise ChangeRequestBookingNotActive()
    request = await _move(session, request=request, allowed=[S.quoted], to=S.accepted, actor=actor, note=None)
    assert request.amount is not None
    assert request.days is not None
    today = (await unit_sales_service.contexts(session, [locked], now=now))[locked.id].today
    line = await unit_sales_service.add_change(
        session,
        booking=locked,
        label=f"Change: {request.title}"[:200],
        amount=Decimal(request.amount),
        due_on=today,
        days=request.days,
        change_request_id=request.id,
    )
    if line is not None:
        request.instalment_id = line.id
        await session.flush()
        await session.refresh(request)
    return request


async def reject(
    session: AsyncSession, *, request: ChangeRequest, booking: Booking, actor: User, reason: str | None
) -> ChangeRequest:
    _require_buyer(actor, booking)
    return await _move(session, request=request, allowed=[S.quoted], to=S.rejected, actor=actor, note=reason)


async def withdraw(
    session: AsyncSession, *, request: ChangeRequest, booking: Booking, actor: User, reason: str | None
) -> ChangeRequest:
    _require_buyer(actor, booking)
    return await _move(
        session, request=request, allowed=[S.requested, S.quoted], to=S.withdrawn, actor=actor, note=reason
    )


async def get_all(
    session: AsyncSession,
    *,
    booking: Booking | None = None,
    project: Project | None = None,
    status: ChangeRequestStatus | None = None,
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


async def history(session: AsyncSession, *, request: ChangeRequest) -> Sequence[ChangeRequestEvent]:
    rows = await session.scalars(
        select(ChangeRequestEvent)
        .where(ChangeRequestEvent.change_request_id == request.id)
        .order_by(ChangeRequestEvent.at, ChangeRequestEvent.id)
    )
    return rows.all()


def to_read(request: ChangeRequest, *, currency: str) -> ChangeRequestRead:
    return ChangeRequestRead(
        id=request.id,
        booking_id=request.booking_id,
        unit_id=request.unit_id,
        status=ChangeRequestStatus(request.status),
        title=request.title,
        description=request.description,
        amount=None if request.amount is None else money.fmt(request.amount, currency),
        days=request.days,
        quote_note=request.quote_note,
        instalment_id=request.instalment_id,
        created_at=request.created_at,
        updated_at=request.updated_at,
    )
