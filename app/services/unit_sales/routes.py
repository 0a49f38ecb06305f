import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, status

from app.core.database import SessionDep
from app.core.dependencies import PageDep
from app.core.schemas import Page
from app.services.auth.dependencies import CurrentUser
from app.services.properties import service as properties_service
from app.services.properties.dependencies import Now, ProjectStaff, Viewer
from app.services.unit_sales import dashboard
from app.services.unit_sales import holds as holds_service
from app.services.unit_sales import plans as plans_service
from app.services.unit_sales import service as unit_sales_service
from app.services.unit_sales.dependencies import BookingStaff, InstalmentStaff, PlanStaff
from app.services.unit_sales.models import BookingStatus, HoldStatus
from app.services.unit_sales.schemas import (
    BookingCancel,
    BookingCreate,
    BookingRead,
    DashboardRead,
    HistoryEntry,
    HoldCreate,
    HoldRead,
    InstalmentRead,
    InstalmentUpdate,
    PaymentPlanCreate,
    PaymentPlanRead,
    PaymentPlanUpdate,
    ScheduleRead,
)

router = APIRouter(tags=["property"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "`not_found`"}}
_STAFF: dict[int | str, dict[str, Any]] = {**_NOT_FOUND, 403: {"description": "`forbidden`"}}
HoldStatusQuery = Annotated[HoldStatus | None, Query(alias="status")]
BookingStatusQuery = Annotated[BookingStatus | None, Query(alias="status")]


# --- holds -----------------------------------------------------------------------------------------


@router.post(
    "/units/{unit_id}/holds",
    status_code=status.HTTP_201_CREATED,
    responses={**_NOT_FOUND, 409: {"description": "`unit_unavailable`, `hold_limit`"}},
)
async def create_hold(
    unit_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    now: Now,
    data: Annotated[HoldCreate | None, Body(examples=[{}])] = None,
) -> HoldRead:
    """Hold an available unit for the builder's `hold_minutes`. Under any concurrency one hold wins;
    a lapsed hold frees the unit at once (its status reads `expired`)."""
    unit, project = await properties_service.get_visible_unit(session, unit_id=unit_id, viewer=user)
    hold = await holds_service.create(session, unit=unit, project=project, customer=user, now=now)
    return holds_service.to_read(hold, now)


@router.get("/holds")
async def list_holds(
    user: CurrentUser, session: SessionDep, page: PageDep, now: Now, status_: HoldStatusQuery = None
) -> Page[HoldRead]:
    """Your own holds, newest first."""
    rows, total = await holds_service.get_all(
        session, customer=user, status=status_, now=now, offset=page.offset, limit=page.size
    )
    return Page.build([holds_service.to_read(h, now) for h in rows], total=total, page=page.page, size=page.size)


@router.get("/projects/{project_id}/holds", responses=_STAFF)
async def list_project_holds(
    access: ProjectStaff, session: SessionDep, page: PageDep, now: Now, status_: HoldStatusQuery = None
) -> Page[HoldRead]:
    """Members: the project's holds, newest first."""
    rows, total = await holds_service.get_all(
        session, project=access.project, status=status_, now=now, offset=page.offset, limit=page.size
    )
    return Page.build([holds_service.to_read(h, now) for h in rows], total=total, page=page.page, size=page.size)


@router.get("/holds/{hold_id}", responses=_NOT_FOUND)
async def get_hold(hold_id: uuid.UUID, user: CurrentUser, session: SessionDep, now: Now) -> HoldRead:
    """The holder, or the builder's staff."""
    hold = await holds_service.get_visible(session, hold_id=hold_id, user=user)
    return holds_service.to_read(hold, now)


@router.post("/holds/{hold_id}/release", responses={**_NOT_FOUND, 409: {"description": "`hold_not_active`"}})
async def release_hold(hold_id: uuid.UUID, user: CurrentUser, session: SessionDep, now: Now) -> HoldRead:
    """The holder or the builder's staff give the unit back."""
    hold = await holds_service.get_visible(session, hold_id=hold_id, user=user, for_update=True)
    hold = await holds_service.release(session, hold=hold, now=now)
    return holds_service.to_read(hold, now)


# --- payment plans ---------------------------------------------------------------------------------


@router.post(
    "/projects/{project_id}/payment-plans",
    status_code=status.HTTP_201_CREATED,
    responses={**_STAFF, 422: {"description": "`percent_total`, `validation_error`"}},
)
async def create_payment_plan(data: PaymentPlanCreate, access: ProjectStaff, session: SessionDep) -> PaymentPlanRead:
    """Members: 1-24 instalments whose percents sum to exactly 100."""
    plan = await plans_service.create(session, project=access.project, data=data)
    return (await plans_service.to_reads(session, [plan]))[0]


@router.get("/projects/{project_id}/payment-plans", responses=_NOT_FOUND)
async def list_payment_plans(
    project_id: uuid.UUID, session: SessionDep, page: PageDep, viewer: Viewer
) -> Page[PaymentPlanRead]:
    """Public: the project's active plans, newest first (its members also see inactive ones)."""
    project = await properties_service.get_visible_project(session, project_id=project_id, viewer=viewer)
    staff = await properties_service.is_staff(session, user=viewer, organization_id=project.organization_id)
    rows, total = await plans_service.get_all(
        session, project=project, include_inactive=staff, offset=page.offset, limit=page.size
    )
    items = await plans_service.to_reads(session, rows)
    return Page.build(items, total=total, page=page.page, size=page.size)


@router.patch("/payment-plans/{payment_plan_id}", responses=_STAFF)
async def update_payment_plan(data: PaymentPlanUpdate, access: PlanStaff, session: SessionDep) -> PaymentPlanRead:
    """Members: rename, or (de)activate; bookings already made keep their schedule."""
    plan = await plans_service.update(session, plan=access.plan, data=data)
    return (await plans_service.to_reads(session, [plan]))[0]


# --- bookings --------------------------------------------------------------------------------------


@router.post(
    "/bookings",
    status_code=status.HTTP_201_CREATED,
    responses={
        **_STAFF,
        409: {"description": "`hold_expired`, `hold_not_active`"},
        422: {"description": "`invalid_payment_plan`"},
    },
)
async def create_booking(data: BookingCreate, user: CurrentUser, session: SessionDep, now: Now) -> BookingRead:
    """The holder books the held unit: atomically the hold becomes `booked`, the unit `reserved` at
    its price now, and the schedule is made from the plan."""
    booking = await unit_sales_service.book(
        session, customer=user, hold_id=data.hold_id, payment_plan_id=data.payment_plan_id, now=now
    )
    return await unit_sales_service.to_read(session, booking, now=now)


@router.get("/bookings")
async def list_bookings(
    user: CurrentUser, session: SessionDep, page: PageDep, now: Now, status_: BookingStatusQuery = None
) -> Page[BookingRead]:
    """Your own unit bookings, newest first."""
    rows, total = await unit_sales_service.get_all(
        session, customer=user, status=status_, offset=page.offset, limit=page.size
    )
    items = await unit_sales_service.to_reads(session, rows, now=now)
    return Page.build(items, total=total, page=page.page, size=page.size)


@router.get("/projects/{project_id}/bookings", responses=_STAFF)
async def list_project_bookings(
    access: ProjectStaff,
    session: SessionDep,
    page: PageDep,
    now: Now,
    status_: BookingStatusQuery = None,
    q: Annotated[str | None, Query(max_length=200, description="Reference, unit code, buyer name or e-mail")] = None,
) -> Page[BookingRead]:
    """Members: the project's bookings, newest first."""
    rows, total = await unit_sales_service.get_all(
        session, project=access.project, status=status_, q=q, offset=page.offset, limit=page.size
    )
    items = await unit_sales_service.to_reads(session, rows, now=now)
    return Page.build(items, total=total, page=page.page, size=page.size)


@router.get("/bookings/{booking_id}", responses=_NOT_FOUND)
async def get_booking(booking_id: uuid.UUID, user: CurrentUser, session: SessionDep, now: Now) -> BookingRead:
    """The buyer, or the builder's staff."""
    booking = await unit_sales_service.get_visible(session, booking_id=booking_id, user=user)
    return await unit_sales_service.to_read(session, booking, now=now)


@router.get("/bookings/{booking_id}/history", responses=_NOT_FOUND)
async def get_booking_history(booking_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> list[HistoryEntry]:
    """Every move of the booking, oldest first."""
    booking = await unit_sales_service.get_visible(session, booking_id=booking_id, user=user)
    events = await unit_sales_service.history(session, booking=booking)
    return [HistoryEntry.model_validate(event) for event in events]


@router.post(
    "/bookings/{booking_id}/confirm",
    responses={**_STAFF, 409: {"description": "`down_payment_missing`, `invalid_transition`"}},
)
async def confirm_booking(access: BookingStaff, session: SessionDep, now: Now) -> BookingRead:
    """Members: a reserved unit becomes sold once its first instalment is paid."""
    booking = await unit_sales_service.confirm(session, booking=access.booking, actor=access.user, now=now)
    return await unit_sales_service.to_read(session, booking, now=now)


@router.post(
    "/bookings/{booking_id}/cancel",
    responses={**_NOT_FOUND, 409: {"description": "`payments_recorded`, `invalid_transition`"}},
)
async def cancel_booking(
    booking_id: uuid.UUID, data: BookingCancel, user: CurrentUser, session: SessionDep, now: Now
) -> BookingRead:
    """The buyer while nothing is paid, or the builder's staff while it is active; the unit is free again."""
    booking = await unit_sales_service.get_visible(session, booking_id=booking_id, user=user, for_update=True)
    booking = await unit_sales_service.cancel(session, booking=booking, actor=user, reason=data.reason, now=now)
    return await unit_sales_service.to_read(session, booking, now=now)


@router.get("/bookings/{booking_id}/schedule", responses=_NOT_FOUND)
async def get_booking_schedule(booking_id: uuid.UUID, user: CurrentUser, session: SessionDep, now: Now) -> ScheduleRead:
    """The instalments with what is paid, outstanding and overdue (due before today, in the
    builder's zone, and not fully paid)."""
    booking = await unit_sales_service.get_visible(session, booking_id=booking_id, user=user)
    return await unit_sales_service.get_schedule(session, booking=booking, now=now)


@router.patch("/instalments/{instalment_id}", responses=_STAFF)
async def update_instalment(
    data: InstalmentUpdate, access: InstalmentStaff, session: SessionDep, now: Now
) -> InstalmentRead:
    """Members: move an instalment's due date (any date)."""
    return await unit_sales_service.set_due_on(
        session, instalment=access.instalment, booking=access.booking, due_on=data.due_on, now=now
    )


@router.get("/projects/{project_id}/dashboard", responses=_STAFF)
async def get_project_dashboard(access: ProjectStaff, session: SessionDep, now: Now) -> DashboardRead:
    """Members: units by status, and over the active bookings the sales value, what is collected,
    due by today, overdue and outstanding."""
    return await dashboard.project_dashboard(session, project=access.project, now=now)
