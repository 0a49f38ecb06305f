import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from app.core.database import SessionDep
from app.core.dependencies import PageDep
from app.core.schemas import Page
from app.services.apikeys.scopes import Scope
from app.services.auth.dependencies import Caller, require_caller
from app.services.catalog import service as catalog_service
from app.services.catalog.models import Service
from app.services.catalog.schemas import (
    ClosureCreate,
    ClosureRead,
    ScheduleIn,
    ScheduleRead,
    ServiceCreate,
    ServiceRead,
    ServiceUpdate,
)
from app.services.organizations import service as organizations_service
from app.services.organizations.dependencies import GATE_RESPONSES, OrgCatalogEditor
from app.services.organizations.models import MemberRole

router = APIRouter(tags=["catalog"])

# `_managed_service`'s answers, for the routes that change a service.
MANAGED_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "`forbidden`: not an owner or manager of the service's organization"},
    404: {"description": "`not_found`: no such service"},
}

# A signed-in user (a manager of the service's organization: checked below) or a key with the scope.
CatalogEditor = Annotated[Caller, require_caller(Scope.catalog_write)]


async def _managed_service(session: SessionDep, service_id: uuid.UUID, user: Caller) -> Service:
    service = await catalog_service.get_or_raise(session, service_id, for_update=True)
    await organizations_service.require_member_role(
        session, user=user, organization_id=service.organization_id, minimum=MemberRole.manager
    )
    return service


@router.post(
    "/organizations/{organization_id}/services",
    status_code=status.HTTP_201_CREATED,
    responses={**GATE_RESPONSES, 422: {"description": "`department_not_found`, `validation_error`"}},
)
async def create_service(data: ServiceCreate, access: OrgCatalogEditor, session: SessionDep) -> ServiceRead:
    """Owners, managers and administrators: offer a new service, with the documents it requires."""
    service = await catalog_service.create(session, organization=access.organization, data=data)
    return (await catalog_service.to_reads(session, [service]))[0]


@router.get("/services")
async def list_services(
    session: SessionDep,
    page: PageDep,
    organization_id: uuid.UUID | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[ServiceRead]:
    """Public: active services, by organization and by words in the name or description."""
    rows, total = await catalog_service.get_all(
        session, organization_id=organization_id, q=q, offset=page.offset, limit=page.size
    )
    items = await catalog_service.to_reads(session, rows)
    return Page.build(items, total=total, page=page.page, size=page.size)


@router.get("/services/{service_id}", responses={404: {"description": "`not_found`"}})
async def get_service(service_id: uuid.UUID, session: SessionDep) -> ServiceRead:
    """Public: one service with its requirements and rating."""
    service = await catalog_service.get_or_raise(session, service_id)
    return (await catalog_service.to_reads(session, [service]))[0]


@router.patch(
    "/services/{service_id}",
    responses={
        **MANAGED_RESPONSES,
        422: {"description": "`unknown_requirement`, `department_not_found`, `slot_too_short`, `validation_error`"},
    },
)
async def update_service(
    service_id: uuid.UUID, data: ServiceUpdate, user: CatalogEditor, session: SessionDep
) -> ServiceRead:
    """Owners, managers and administrators: change a service (capacity changes apply to new bookings)."""
    service = await _managed_service(session, service_id, user)
    service = await catalog_service.update(session, service=service, data=data)
    return (await catalog_service.to_reads(session, [service]))[0]


@router.put(
    "/services/{service_id}/schedule",
    responses={
        **MANAGED_RESPONSES,
        422: {"description": "`overlapping_hours`, `slot_too_short`, `validation_error`"},
    },
)
async def set_schedule(
    service_id: uuid.UUID, data: ScheduleIn, user: CatalogEditor, session: SessionDep
) -> ScheduleRead:
    """Owners, managers and administrators: replace the weekly opening hours (local time of the
    organization, several ranges a day allowed) and the booking rules."""
    service = await _managed_service(session, service_id, user)
    return await catalog_service.set_schedule(session, service=service, data=data)


@router.get("/services/{service_id}/schedule", responses={404: {"description": "`not_found`"}})
async def get_schedule(service_id: uuid.UUID, session: SessionDep) -> ScheduleRead:
    """Public: the weekly opening hours and booking rules."""
    service = await catalog_service.get_or_raise(session, service_id)
    return await catalog_service.get_schedule(session, service=service)


@router.post(
    "/services/{service_id}/closures",
    status_code=status.HTTP_201_CREATED,
    responses={**MANAGED_RESPONSES, 422: {"description": "`invalid_range`, `validation_error`"}},
)
async def create_closure(
    service_id: uuid.UUID, data: ClosureCreate, user: CatalogEditor, session: SessionDep
) -> ClosureRead:
    """Owners, managers and administrators: close the service on some days (inclusive local dates).
    Existing appointments on those days are kept; new bookings are refused."""
    service = await _managed_service(session, service_id, user)
    return ClosureRead.model_validate(await catalog_service.add_closure(session, service=service, data=data))
