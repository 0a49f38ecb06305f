import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, status

from app.core.database import SessionDep
from app.core.dependencies import PageDep
from app.core.schemas import Page
from app.services.auth.dependencies import CurrentUser
from app.services.change_requests import service as change_requests_service
from app.services.change_requests.models import ChangeStatus
from app.services.change_requests.schemas import (
    ChangeHistoryEntry,
    ChangeRequestCreate,
    ChangeRequestRead,
    DeclineRequest,
    QuoteRequest,
    RejectRequest,
    WithdrawRequest,
)
from app.services.properties.dependencies import Now, ProjectStaff
from app.services.unit_sales import service as unit_sales_service

router = APIRouter(tags=["property"])

_MOVE: dict[int | str, dict[str, Any]] = {
    403: {"description": "`forbidden`"},
    404: {"description": "`not_found`"},
    409: {"description": "`invalid_transition`"},
}


@router.post(
    "/bookings/{booking_id}/change-requests",
    status_code=status.HTTP_201_CREATED,
    responses={**_MOVE, 409: {"description": "`booking_not_active`"}},
)
async def create_change_request(
    booking_id: uuid.UUID, data: ChangeRequestCreate, user: CurrentUser, session: SessionDep
) -> ChangeRequestRead:
    """The buyer asks for a change to their unit."""
    booking = await unit_sales_service.get_visible(session, booking_id=booking_id, user=user)
    change = await change_requests_service.create(session, booking=booking, customer=user, data=data)
    return (await change_requests_service.to_reads(session, [change]))[0]


@router.get("/bookings/{booking_id}/change-requests", responses={404: {"description": "`not_found`"}})
async def list_booking_change_requests(
    booking_id: uuid.UUID, user: CurrentUser, session: SessionDep, page: PageDep
) -> Page[ChangeRequestRead]:
    """The buyer, or the builder's staff: the booking's change requests, newest first."""
    booking = await unit_sales_service.get_visible(session, booking_id=booking_id, user=user)
    rows, total = await change_requests_service.get_all(session, booking=booking, offset=page.offset, limit=page.size)
    items = await change_requests_service.to_reads(session, rows)
    return Page.build(items, total=total, page=page.page, size=page.size)


@router.get(
    "/projects/{project_id}/change-requests",
    responses={403: {"description": "`forbidden`"}, 404: {"description": "`not_found`"}},
)
async def list_project_change_requests(
    access: ProjectStaff,
    session: SessionDep,
    page: PageDep,
    status_: Annotated[ChangeStatus | None, Query(alias="status")] = None,
) -> Page[ChangeRequestRead]:
    """Members: the project's change requests, newest first."""
    rows, total = await change_requests_service.get_all(
        session, project=access.project, status=status_, offset=page.offset, limit=page.size
    )
    items = await change_requests_service.to_reads(session, rows)
    return Page.build(items, total=total, page=page.page, size=page.size)


@router.get("/change-requests/{change_request_id}", responses={404: {"description": "`not_found`"}})
async def get_change_request(change_request_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> ChangeRequestRead:
    """The buyer, or the builder's staff."""
    change = await change_requests_service.get_visible(session, change_request_id=change_request_id, user=user)
    return (await change_requests_service.to_reads(session, [change]))[0]


@router.get("/change-requests/{change_request_id}/history", responses={404: {"description": "`not_found`"}})
async def get_change_request_history(
    change_request_id: uuid.UUID, user: CurrentUser, session: SessionDep
) -> list[ChangeHistoryEntry]:
    """Every move, oldest first."""
    change = await change_requests_service.get_visible(session, change_request_id=change_request_id, user=user)
    return [ChangeHistoryEntry.model_validate(e) for e in await change_requests_service.history(session, change=change)]


async def _move(
    session: SessionDep,
    change_request_id: uuid.UUID,
    user: CurrentUser,
    now: Now,
    verb: str,
    *,
    note: str | None = None,
    quote: QuoteRequest | None = None,
) -> ChangeRequestRead:
    change = await change_requests_service.get_visible(
        session, change_request_id=change_request_id, user=user, for_update=True
    )
    change = await change_requests_service.move(
        session, change=change, verb=verb, actor=user, note=note, now=now, quote=quote
    )
    return (await change_requests_service.to_reads(session, [change]))[0]


@router.post("/change-requests/{change_request_id}/quote", responses=_MOVE)
async def quote_change_request(
    change_request_id: uuid.UUID, data: QuoteRequest, user: CurrentUser, session: SessionDep, now: Now
) -> ChangeRequestRead:
    """Staff: requested -> quoted, with the price (0 or more) and the delay in days."""
    return await _move(session, change_request_id, user, now, "quote", note=data.note, quote=data)


@router.post("/change-requests/{change_request_id}/decline", responses=_MOVE)
async def decline_change_request(
    change_request_id: uuid.UUID, data: DeclineRequest, user: CurrentUser, session: SessionDep, now: Now
) -> ChangeRequestRead:
    """Staff: requested -> declined, with a reason."""
    return await _move(session, change_request_id, user, now, "decline", note=data.reason)


@router.post("/change-requests/{change_request_id}/accept", responses=_MOVE)
async def accept_change_request(
    change_request_id: uuid.UUID, user: CurrentUser, session: SessionDep, now: Now
) -> ChangeRequestRead:
    """The buyer: quoted -> accepted; a positive amount becomes an instalment due today and the
    days are added to the booking's `delay_days`."""
    return await _move(session, change_request_id, user, now, "accept")


@router.post("/change-requests/{change_request_id}/reject", responses=_MOVE)
async def reject_change_request(
    change_request_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    now: Now,
    data: Annotated[RejectRequest | None, Body(examples=[{"reason": "Too expensive."}, {}])] = None,
) -> ChangeRequestRead:
    """The buyer: quoted -> rejected."""
    return await _move(session, change_request_id, user, now, "reject", note=data.reason if data else None)


@router.post("/change-requests/{change_request_id}/withdraw", responses=_MOVE)
async def withdraw_change_request(
    change_request_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    now: Now,
    data: Annotated[WithdrawRequest | None, Body(examples=[{}])] = None,
) -> ChangeRequestRead:
    """The buyer: requested or quoted -> withdrawn."""
    return await _move(session, change_request_id, user, now, "withdraw")
