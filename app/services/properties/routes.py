import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from app.core.database import EngineDep, SessionDep
from app.core.dependencies import PageDep
from app.core.schemas import Page, page_response
from app.services.organizations.dependencies import GATE_RESPONSES
from app.services.properties import milestones as milestones_service
from app.services.properties import money
from app.services.properties import service as properties_service
from app.services.properties.dependencies import (
    MilestoneStaff,
    Now,
    ProjectStaff,
    PropertyManager,
    PropertyReader,
    PropertyWriter,
    UnitStaff,
    Viewer,
    ViewerClaims,
)
from app.services.properties.models import ProjectStatus, UnitStatus, UnitType
from app.services.properties.schemas import (
    MilestoneCreate,
    MilestoneRead,
    MilestoneUpdate,
    ProjectCreate,
    ProjectRead,
    ProjectUpdate,
    PropertySettingsRead,
    PropertySettingsUpdate,
    UnitCreate,
    UnitRead,
    UnitUpdate,
)

router = APIRouter(tags=["property"])

_KIND: dict[int | str, dict[str, Any]] = {
    **GATE_RESPONSES,
    409: {"description": "`wrong_organization_kind`: not a property organization"},
}
_STAFF: dict[int | str, dict[str, Any]] = {
    403: {"description": "`forbidden`: not a member of the builder"},
    404: {"description": "`not_found`"},
}
PriceQuery = Annotated[money.AmountText | None, Query(description="Inclusive, a decimal string")]


@router.get("/organizations/{organization_id}/property-settings", responses=_KIND)
async def get_property_settings(access: PropertyReader, session: SessionDep) -> PropertySettingsRead:
    """Members: how long a hold lasts and how many a customer may have at once in this organization."""
    return await properties_service.get_settings(session, organization_id=access.organization.id)


@router.patch("/organizations/{organization_id}/property-settings", responses=_KIND)
async def update_property_settings(
    data: PropertySettingsUpdate, access: PropertyManager, session: SessionDep
) -> PropertySettingsRead:
    """Owners, managers and administrators."""
    return await properties_service.update_settings(session, organization=access.organization, data=data)


@router.post("/organizations/{organization_id}/projects", status_code=status.HTTP_201_CREATED, responses=_KIND)
async def create_project(data: ProjectCreate, access: PropertyWriter, session: SessionDep, now: Now) -> ProjectRead:
    """Members: a new project, unpublished until a `PATCH` publishes it."""
    project = await properties_service.create_project(session, organization=access.organization, data=data, now=now)
    return await properties_service.to_project_read(session, project, now=now)


@router.get("/projects", response_model=Page[ProjectRead])
async def list_projects(
    engine: EngineDep,
    page: PageDep,
    viewer: ViewerClaims,
    now: Now,
    organization_id: uuid.UUID | None = None,
    city: Annotated[str | None, Query(max_length=100, description="Any case")] = None,
    status_: Annotated[ProjectStatus | None, Query(alias="status")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Words in the name, city or address")] = None,
    min_price: PriceQuery = None,
    max_price: PriceQuery = None,
    bedrooms: Annotated[int | None, Query(ge=0, le=20)] = None,
) -> Response:
    """Public: published projects, newest first (an organization's members also see its drafts).

    `min_price`, `max_price` and `bedrooms` match projects with an available unit of that price
    (inclusive) and that exact number of bedrooms.
    """
    filters = properties_service.ProjectFilters(
        organization_id=organization_id,
        city=city,
        status=status_,
        q=q,
        min_price=min_price,
        max_price=max_price,
        bedrooms=bedrooms,
    )
    items, total = await properties_service.search_projects(
        engine, claims=viewer, filters=filters, now=now, offset=page.offset, limit=page.size
    )
    return page_response(items, total=total, page=page.page, size=page.size)


@router.get("/projects/{project_id}", responses={404: {"description": "`not_found`"}})
async def get_project(project_id: uuid.UUID, session: SessionDep, viewer: Viewer, now: Now) -> ProjectRead:
    """Public once published; its organization's members see it before."""
    project = await properties_service.get_visible_project(session, project_id=project_id, viewer=viewer)
    return await properties_service.to_project_read(session, project, now=now)


@router.patch(
    "/projects/{project_id}",
    responses={**_STAFF, 409: {"description": "`invalid_transition`"}},
)
async def update_project(data: ProjectUpdate, access: ProjectStaff, session: SessionDep, now: Now) -> ProjectRead:
    """Members: the create fields but `currency`; `published` is one way and `status` only moves forward."""
    project = await properties_service.get_project(session, access.project.id, for_update=True)
    project = await properties_service.update_project(session, project=project, data=data, now=now)
    return await properties_service.to_project_read(session, project, now=now)


@router.post(
    "/projects/{project_id}/units",
    status_code=status.HTTP_201_CREATED,
    responses={**_STAFF, 409: {"description": "`unit_code_taken`"}},
)
async def create_unit(data: UnitCreate, access: ProjectStaff, session: SessionDep, now: Now) -> UnitRead:
    """Members: a unit for sale; `code` is unique in the project in any case."""
    unit = await properties_service.create_unit(session, project=access.project, data=data)
    await session.refresh(unit)
    return properties_service.unit_read(unit, access.project, now=now)


@router.get(
    "/projects/{project_id}/units", response_model=Page[UnitRead], responses={404: {"description": "`not_found`"}}
)
async def list_units(
    project_id: uuid.UUID,
    engine: EngineDep,
    page: PageDep,
    viewer: ViewerClaims,
    now: Now,
    status_: Annotated[UnitStatus | None, Query(alias="status")] = None,
    type_: Annotated[UnitType | None, Query(alias="type")] = None,
    bedrooms: Annotated[int | None, Query(ge=0, le=20)] = None,
    min_price: PriceQuery = None,
    max_price: PriceQuery = None,
) -> Response:
    """Public: a published project's units by code, with their status now."""
    filters = properties_service.UnitFilters(
        status=status_, type=type_, bedrooms=bedrooms, min_price=min_price, max_price=max_price
    )
    items, total = await properties_service.list_units(
        engine, claims=viewer, project_id=project_id, filters=filters, now=now, offset=page.offset, limit=page.size
    )
    return page_response(items, total=total, page=page.page, size=page.size)


@router.get("/units/{unit_id}", responses={404: {"description": "`not_found`"}})
async def get_unit(unit_id: uuid.UUID, session: SessionDep, viewer: Viewer, now: Now) -> UnitRead:
    """Public once its project is published."""
    unit, project = await properties_service.get_visible_unit(session, unit_id=unit_id, viewer=viewer)
    return properties_service.unit_read(unit, project, now=now)


@router.patch(
    "/units/{unit_id}",
    responses={**_STAFF, 409: {"description": "`unit_code_taken`"}},
)
async def update_unit(data: UnitUpdate, access: UnitStaff, session: SessionDep, now: Now) -> UnitRead:
    """Members: a new price binds later bookings only (a booking keeps the price it was made at)."""
    unit = await properties_service.update_unit(session, unit=access.unit, project=access.project, data=data)
    return properties_service.unit_read(unit, access.project, now=now)


@router.post(
    "/projects/{project_id}/milestones",
    status_code=status.HTTP_201_CREATED,
    responses=_STAFF,
)
async def create_milestone(data: MilestoneCreate, access: ProjectStaff, session: SessionDep, now: Now) -> MilestoneRead:
    """Members: the next milestone of the project (positions 1, 2, ...)."""
    milestone = await milestones_service.create(session, project=access.project, data=data, now=now)
    return MilestoneRead.model_validate(milestone)


@router.get("/projects/{project_id}/milestones", responses={404: {"description": "`not_found`"}})
async def list_milestones(
    project_id: uuid.UUID, session: SessionDep, page: PageDep, viewer: Viewer
) -> Page[MilestoneRead]:
    """Public: a published project's milestones by position."""
    project = await properties_service.get_visible_project(session, project_id=project_id, viewer=viewer)
    rows, total = await milestones_service.get_all(session, project=project, offset=page.offset, limit=page.size)
    items = [MilestoneRead.model_validate(row) for row in rows]
    return Page.build(items, total=total, page=page.page, size=page.size)


@router.patch(
    "/milestones/{milestone_id}",
    responses=_STAFF,
)
async def update_milestone(
    data: MilestoneUpdate, access: MilestoneStaff, session: SessionDep, now: Now
) -> MilestoneRead:
    """Members: `completed_on` is set the first day `percent_complete` reaches 100."""
    milestone = await milestones_service.update(
        session, milestone=access.milestone, project=access.project, data=data, now=now
    )
    return MilestoneRead.model_validate(milestone)
