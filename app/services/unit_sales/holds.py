"""Holds: a customer's claim on a unit for `hold_minutes`, at most `max_holds_per_customer` at once
in an organization.

The unit is claimed by a conditional update of its row (`properties_service.claim_for_hold`), so
two holds never run on one unit; the per-customer limit is counted under a transaction-level
advisory lock keyed on (customer, organization), so two holds of one customer are counted one after
the other, across processes.
"""

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import paging
from app.services.properties import service as properties_service
from app.services.properties.models import Project, Unit
from app.services.unit_sales.errors import HoldLimit, HoldNotActive, HoldNotFound, UnitUnavailable
from app.services.unit_sales.models import Hold, HoldState, HoldStatus
from app.services.unit_sales.schemas import HoldRead
from app.services.users.models import User


def status_of(hold: Hold, now: datetime) -> HoldStatus:
    if hold.state == HoldState.active and hold.expires_at <= now:
        return HoldStatus.expired
    return HoldStatus(hold.state)


def status_is(status: HoldStatus, now: datetime) -> ColumnElement[bool]:
    if status == HoldStatus.active:
        return and_(Hold.state == HoldState.active, Hold.expires_at > now)
    if status == HoldStatus.expired:
        return and_(Hold.state == HoldState.active, Hold.expires_at <= now)
    return Hold.state == status.value


def to_read(hold: Hold, now: datetime) -> HoldRead:
    return HoldRead(
        id=hold.id,
        unit_id=hold.unit_id,
        project_id=hold.project_id,
        customer_id=hold.customer_id,
        status=status_of(hold, now),
        expires_at=hold.expires_at,
        created_at=hold.created_at,
        updated_at=hold.updated_at,
    )


async def _lock_customer(session: AsyncSession, *, customer_id: uuid.UUID, organization_id: uuid.UUID) -> None:
    key = func.hashtextextended(f"property-holds:{customer_id}:{organization_id}", 0)
    await session.execute(select(func.pg_advisory_xact_lock(key)))


async def create(session: AsyncSession, *, unit: Unit, project: Project, customer: User, now: datetime) -> Hold:
    settings = await properties_service.get_settings(session, organization_id=project.organization_id)
    await _lock_customer(session, customer_id=customer.id, organization_id=project.organization_id)
    running = await session.scalar(
        select(func.count()).where(
            Hold.customer_id == customer.id,
            Hold.organization_id == project.organization_id,
            status_is(HoldStatus.active, now),
        )
    )
    if (running or 0) >= settings.max_holds_per_customer:
        raise HoldLimit()
    hold_id = uuid.uuid4()
    expires_at = now + timedelta(minutes=settings.hold_minutes)
    if not await properties_service.claim_for_hold(
        session, unit_id=unit.id, hold_id=hold_id, now=now, until=expires_at
    ):
        raise UnitUnavailable()
    hold = Hold(
        id=hold_id,
        unit_id=unit.id,
        project_id=project.id,
        organization_id=project.organization_id,
        customer_id=customer.id,
        state=HoldState.active,
        expires_at=expires_at,
        created_at=now,
        updated_at=now,
    )
    session.add(hold)
    await session.flush()
    return hold


async def get_visible(session: AsyncSession, *, hold_id: uuid.UUID, user: User, for_update: bool = False) -> Hold:
    """The holder's, or their builder's staff's; 404 to everyone else."""
    hold = await session.get(Hold, hold_id, with_for_update=for_update)
    if hold is None or not await properties_service.is_customer_or_staff(
        session, user=user, customer_id=hold.customer_id, organization_id=hold.organization_id
    ):
        raise HoldNotFound()
    return hold


async def release(session: AsyncSession, *, hold: Hold, now: datetime) -> Hold:
    if status_of(hold, now) != HoldStatus.active:
        raise HoldNotActive()
    hold.state = HoldState.released
    hold.ended_at = now
    await properties_service.end_hold(session, unit_id=hold.unit_id, hold_id=hold.id)
    await session.flush()
    await session.refresh(hold)
    return hold


async def get_all(
    session: AsyncSession,
    *,
    customer: User | None = None,
    project: Project | None = None,
    status: HoldStatus | None,
    now: datetime,
    offset: int,
    limit: int,
) -> tuple[Sequence[Hold], int]:
    query = select(Hold)
    if customer is not None:
        query = query.where(Hold.customer_id == customer.id)
    if project is not None:
        query = query.where(Hold.project_id == project.id)
    if status is not None:
        query = query.where(status_is(status, now))
    order = [Hold.created_at.desc(), Hold.id.desc()]
    return await paging.page_of(session, query, order_by=order, offset=offset, limit=limit)
