"""Staff gates of bookings, instalments and payment plans, defined once (API-key scopes join here).

Someone who may not see the booking (or plan) gets 404; its buyer, who may see it, gets 403.
"""

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from app.core.database import SessionDep
from app.core.errors import PermissionDenied
from app.services.auth.dependencies import CurrentUser
from app.services.properties import service as properties_service
from app.services.properties.models import Project
from app.services.unit_sales import plans as plans_service
from app.services.unit_sales import service as unit_sales_service
from app.services.unit_sales.models import Booking, Instalment, PaymentPlan
from app.services.users.models import User


async def _require_staff(session: SessionDep, user: User, organization_id: uuid.UUID) -> None:
    if not await properties_service.is_staff(session, user=user, organization_id=organization_id):
        raise PermissionDenied()


@dataclass(frozen=True, slots=True)
class BookingAccess:
    booking: Booking
    user: User


async def require_booking_staff(booking_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> BookingAccess:
    """The booking's row, locked for the change the route makes."""
    booking = await unit_sales_service.get_visible(session, booking_id=booking_id, user=user, for_update=True)
    await _require_staff(session, user, booking.organization_id)
    return BookingAccess(booking=booking, user=user)


BookingStaff = Annotated[BookingAccess, Depends(require_booking_staff)]


@dataclass(frozen=True, slots=True)
class InstalmentAccess:
    instalment: Instalment
    booking: Booking
    user: User


async def require_instalment_staff(
    instalment_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> InstalmentAccess:
    instalment, booking = await unit_sales_service.get_instalment_visible(
        session, instalment_id=instalment_id, user=user
    )
    await _require_staff(session, user, booking.organization_id)
    return InstalmentAccess(instalment=instalment, booking=booking, user=user)


InstalmentStaff = Annotated[InstalmentAccess, Depends(require_instalment_staff)]


@dataclass(frozen=True, slots=True)
class PlanAccess:
    plan: PaymentPlan
    project: Project
    user: User


async def require_plan_staff(payment_plan_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> PlanAccess:
    plan, project = await plans_service.get_visible(session, plan_id=payment_plan_id, viewer=user, for_update=True)
    await _require_staff(session, user, project.organization_id)
    return PlanAccess(plan=plan, project=project, user=user)


PlanStaff = Annotated[PlanAccess, Depends(require_plan_staff)]
