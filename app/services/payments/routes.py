import uuid
from typing import Any

from fastapi import APIRouter, status

from app.core.database import SessionDep
from app.core.dependencies import PageDep
from app.core.schemas import Page
from app.services.auth.dependencies import CurrentUser
from app.services.payments import service as payments_service
from app.services.payments.schemas import PaymentCreate, PaymentRead, ReceiptRead
from app.services.properties.dependencies import Now
from app.services.unit_sales import service as unit_sales_service
from app.services.unit_sales.dependencies import BookingStaff

router = APIRouter(tags=["property"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "`not_found`"}}


@router.post(
    "/bookings/{booking_id}/payments",
    status_code=status.HTTP_201_CREATED,
    responses={
        **_NOT_FOUND,
        403: {"description": "`forbidden`"},
        409: {"description": "`booking_not_active`"},
        422: {"description": "`overpayment`, `validation_error`"},
    },
)
async def create_payment(data: PaymentCreate, access: BookingStaff, session: SessionDep, now: Now) -> PaymentRead:
    """Members: record a payment. Without `instalment_id` it fills the open instalments by due date
    (undated last), then position; more than the balance (or the instalment's outstanding) is a 422."""
    payment = await payments_service.record(session, booking=access.booking, actor=access.user, data=data, now=now)
    return (await payments_service.to_reads(session, [payment]))[0]


@router.get("/bookings/{booking_id}/payments", responses=_NOT_FOUND)
async def list_payments(
    booking_id: uuid.UUID, user: CurrentUser, session: SessionDep, page: PageDep
) -> Page[PaymentRead]:
    """The buyer, or the builder's staff: the booking's payments, newest first."""
    booking = await unit_sales_service.get_visible(session, booking_id=booking_id, user=user)
    rows, total = await payments_service.get_all(session, booking=booking, offset=page.offset, limit=page.size)
    items = await payments_service.to_reads(session, rows)
    return Page.build(items, total=total, page=page.page, size=page.size)


@router.get("/payments/{payment_id}/receipt", responses=_NOT_FOUND)
async def get_payment_receipt(payment_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> ReceiptRead:
    """The buyer, or the builder's staff: the payment with what a receipt shows."""
    payment, booking = await payments_service.get_visible(session, payment_id=payment_id, user=user)
    return await payments_service.receipt(session, payment=payment, booking=booking)
