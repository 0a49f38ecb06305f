"""Property settings, projects and units: the builder's catalogue and its public browse."""

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.core import paging, prepared
from app.core.errors import NotAuthenticated
from app.core.security import AccessClaims
from app.services.auth import service as auth_service
from app.services.organizations import service as organizations_service
from app.services.organizations.models import Organization
from app.services.properties import money, queries
from app.services.properties.errors import ProjectNotFound, ProjectTransition, UnitCodeTaken, UnitNotFound
from app.services.properties.models import Project, ProjectStatus, PropertySettings, Unit, UnitStatus, UnitType
from app.services.properties.schemas import (
    ProjectCreate,
    ProjectRead,
    ProjectUpdate,
    PropertySettingsRead,
    PropertySettingsUpdate,
    UnitCreate,
    UnitRead,
    UnitUpdate,
)
from app.services.users.models import User

DEFAULT_HOLD_MINUTES = 15
DEFAULT_MAX_HOLDS = 2


async def is_staff(session: AsyncSession, *, user: User | None, organization_id: uuid.UUID) -> bool:
    if user is None:
        return False
    return await organizations_service.is_staff(session, user=user, organization_id=organization_id)


async def is_customer_or_staff(
    session: AsyncSession, *, user: User, customer_id: uuid.UUID, organization_id: uuid.UUID
) -> bool:
    """Who may see a customer's hold, booking or payment: that customer, or the builder's staff."""
    return customer_id == user.id or await is_staff(session, user=user, organization_id=organization_id)


def zone_today(timezone: str, now: datetime) -> date:
    """The calendar day `now` falls on in an IANA zone (an organization's days)."""
    return now.astimezone(ZoneInfo(timezone)).date()


def local_today(organization: Organization, now: datetime) -> date:
    return zone_today(organization.timezone, now)


# --- settings -----------------------------------------------------------------------------------


async def get_settings(session: AsyncSession, *, organization_id: uuid.UUID) -> PropertySettingsRead:
    row = await session.get(PropertySettings, organization_id, populate_existing=True)
    if row is None:
        return PropertySettingsRead(
            organization_id=organization_id,
            hold_minutes=DEFAULT_HOLD_MINUTES,
            max_holds_per_customer=DEFAULT_MAX_HOLDS,
        )
    return PropertySettingsRead.model_validate(row)


async def update_settings(
    session: AsyncSession, *, organization: Organization, data: PropertySettingsUpdate
) -> PropertySettingsRead:
    changes = {key: value for key, value in data.model_dump(exclude_unset=True).items() if value is not None}
    statement = insert(PropertySettings).values(
        organization_id=organization.id,
        hold_minutes=changes.get("hold_minutes", DEFAULT_HOLD_MINUTES),
        max_holds_per_customer=changes.get("max_holds_per_customer", DEFAULT_MAX_HOLDS),
    )
    if changes:
        statement = statement.on_conflict_do_update(
            index_elements=[PropertySettings.organization_id], set_={**changes, "updated_at": func.now()}
        )
    else:
        statement = statement.on_conflict_do_nothing()
    await session.execute(statement)
    return await get_settings(session, organization_id=organization.id)


# --- projects -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProjectFilters:
    organization_id: uuid.UUID | None = None
    city: str | None = None
    status: ProjectStatus | None = None
    q: str | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    bedrooms: int | None = None


async def create_project(
    session: AsyncSession, *, organization: Organization, data: ProjectCreate, now: datetime
) -> Project:
    project = Project(organization_id=organization.id, **data.model_dump())
    if project.status == ProjectStatus.completed:
        project.completed_on = local_today(organization, now)
    session.add(project)
    await session.flush()
    return project


async def get_project(session: AsyncSession, project_id: uuid.UUID, *, for_update: bool = False) -> Project:
    project = await session.get(Project, project_id, with_for_update=for_update)
    if project is None:
        raise ProjectNotFound()
    return project


async def get_visible_project(
    session: AsyncSession, *, project_id: uuid.UUID, viewer: User | None, for_update: bool = False
) -> Project:
    """The project if published or the viewer is its staff; else 404 (its existence stays hidden)."""
    project = await get_project(session, project_id, for_update=for_update)
    if not project.published and not await is_staff(session, user=viewer, organization_id=project.organization_id):
        raise ProjectNotFound()
    return project


async def update_project(session: AsyncSession, *, project: Project, data: ProjectUpdate, now: datetime) -> Project:
    changes = data.model_dump(exclude_unset=True)
    if changes.pop("published", None) is False and project.published:
        raise ProjectTransition("A published project cannot be unpublished.")
    if data.published:
        project.published = True
    status = changes.pop("status", None)
    if status is not None and status != project.status:
        if ProjectStatus(status).rank < ProjectStatus(project.status).rank:
            raise ProjectTransition(f"A project's status cannot move from {project.status} back to {status}.")
        project.status = status
        if status == ProjectStatus.completed:
            organization = await organizations_service.get_or_raise(session, project.organization_id)
            project.completed_on = local_today(organization, now)
    for field in ("name", "city"):
        if changes.pop(field, None) is not None:
            setattr(project, field, getattr(data, field))
    for field, value in changes.items():
        setattr(project, field, [] if field == "amenities" and value is None else value)
    await session.flush()
    await session.refresh(project)
    return project


async def search_projects(
    engine: AsyncEngine, *, claims: AccessClaims | None, filters: ProjectFilters, now: datetime, offset: int, limit: int
) -> tuple[str, int]:
    """The public search's page, newest first, as JSON text of `ProjectRead` bodies, and the total:
    published projects, and for a signed-in caller the drafts of their organizations too (all of
    them for an admin). One round trip, the login check included (two for a page past the last)."""
    shape = queries.SearchShape(
        organization=filters.organization_id is not None,
        city=bool(filters.city),
        status=filters.status is not None,
        q=bool(filters.q),
        bedrooms=filters.bedrooms is not None,
        price=filters.min_price is not None or filters.max_price is not None,
    )
    params: dict[str, Any] = {
        "organization_id": filters.organization_id,
        "city_key": filters.city.lower() if filters.city else None,
        "status": filters.status.value if filters.status else None,
        "pattern": paging.contains(filters.q) if filters.q else None,
        "bedrooms": filters.bedrooms,
        "min_price": filters.min_price,
        "max_price": filters.max_price,
        "now": now,
        "offset": offset,
        "limit": limit,
    }
    signed_in = claims is not None
    login = auth_service.login_parameters(claims) if claims is not None else {}
    row = await prepared.fetchrow(engine, queries.search_statement(shape, signed_in=signed_in), **params, **login)
    if row is None:
        raise NotAuthenticated("The login has ended.")
    items, total = row["items"], row["total"]
    if items is None and offset > 0:  # a page past the last: the count alone
        statement = queries.search_statement(shape, signed_in=signed_in, page=False)
        row = await prepared.fetchrow(engine, statement, **params, **login)
        if row is None:
            raise NotAuthenticated("The login has ended.")
        total = row["total"]
    return items or "", total or 0


def project_read(
    project: Project, units_total: int, units_available: int, price_from: Decimal | None, progress: int | None
) -> ProjectRead:
    return ProjectRead.model_validate(
        {
            **{column: getattr(project, column) for column in _PROJECT_COLUMNS},
            "progress_percent": progress,
            "units_total": units_total,
            "units_available": units_available,
            "price_from": None if price_from is None else money.fmt(price_from, project.currency),
        }
    )


_PROJECT_COLUMNS = [c.key for c in Project.__table__.columns]


async def to_project_read(session: AsyncSession, project: Project, *, now: datetime) -> ProjectRead:
    row = (await session.execute(queries.stats_of(project.id, now))).one()
    return project_read(project, row.units_total, row.units_available, row.price_from, row.progress)


# --- units --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnitFilters:
    status: UnitStatus | None = None
    type: str | None = None
    bedrooms: int | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None


async def create_unit(session: AsyncSession, *, project: Project, data: UnitCreate) -> Unit:
    money.check(data.price, project.currency, field="price")
    unit = Unit(project_id=project.id, organization_id=project.organization_id, **data.model_dump())
    session.add(unit)
    await _flush_code(session)
    return unit


async def _flush_code(session: AsyncSession) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        if "ix_units_project_id_code" in str(exc.orig):
            raise UnitCodeTaken() from exc
        raise


async def get_visible_unit(
    session: AsyncSession, *, unit_id: uuid.UUID, viewer: User | None, for_update: bool = False
) -> tuple[Unit, Project]:
    """The unit and its project (one read), if the project is published or the viewer its staff."""
    query = select(Unit, Project).join(Project, Project.id == Unit.project_id).where(Unit.id == unit_id)
    if for_update:
        query = query.with_for_update(of=Unit)
    row = (await session.execute(query)).first()
    if row is None:
        raise UnitNotFound()
    unit, project = row
    if not project.published and not await is_staff(session, user=viewer, organization_id=project.organization_id):
        raise UnitNotFound()
    return unit, project


async def update_unit(session: AsyncSession, *, unit: Unit, project: Project, data: UnitUpdate) -> Unit:
    changes = {key: value for key, value in data.model_dump(exclude_unset=True).items() if value is not None}
    if "price" in changes:
        money.check(changes["price"], project.currency, field="price")
    for field, value in changes.items():
        setattr(unit, field, value)
    await _flush_code(session)
    await session.refresh(unit)
    return unit


async def list_units(
    engine: AsyncEngine,
    *,
    claims: AccessClaims | None,
    project_id: uuid.UUID,
    filters: UnitFilters,
    now: datetime,
    offset: int,
    limit: int,
) -> tuple[str, int]:
    """A project's units by code with their status at `now`, as JSON text of `UnitRead` bodies,
    and the total: a published project's, or a draft's for its staff (404 to anyone else). One
    round trip, the login check and the staff check included."""
    shape = queries.UnitsShape(
        status=filters.status is not None,
        type=filters.type is not None,
        bedrooms=filters.bedrooms is not None,
        min_price=filters.min_price is not None,
        max_price=filters.max_price is not None,
    )
    params: dict[str, Any] = {
        "project_id": project_id,
        "status": filters.status.value if filters.status else None,
        "type": filters.type,
        "bedrooms": filters.bedrooms,
        "min_price": filters.min_price,
        "max_price": filters.max_price,
        "now": now,
        "offset": offset,
        "limit": limit,
    }
    if claims is None:
        row = await prepared.fetchrow(engine, queries.units_statement(shape, signed_in=False), **params)
        if row is None:
            raise ProjectNotFound()
    else:
        statement = queries.units_statement(shape, signed_in=True)
        row = await prepared.fetchrow(engine, statement, **params, **auth_service.login_parameters(claims))
        if row is None:
            raise NotAuthenticated("The login has ended.")
        if row["project_id"] is None or not (row["published"] or organizations_service.standing_is_staff(row)):
            raise ProjectNotFound()
    return row["items"], row["total"]


async def unit_counts(session: AsyncSession, *, project: Project, now: datetime) -> dict[UnitStatus, int]:
    """How many of the project's units are in each status at `now`."""
    status = queries.unit_status(now)
    rows = await session.execute(select(status, func.count()).where(Unit.project_id == project.id).group_by(status))
    counts = dict.fromkeys(UnitStatus, 0)
    for value, count in rows:
        counts[UnitStatus(value)] = count
    return counts


def unit_status(unit: Unit, now: datetime) -> UnitStatus:
    if unit.sale_status is not None:
        return UnitStatus(unit.sale_status)
    if unit.held_until is not None and unit.held_until > now:
        return UnitStatus.held
    return UnitStatus.available


def unit_read(unit: Unit, project: Project, *, now: datetime) -> UnitRead:
    status = unit_status(unit, now)
    return UnitRead(
        id=unit.id,
        project_id=unit.project_id,
        organization_id=unit.organization_id,
        code=unit.code,
        type=UnitType(unit.type),
        floor=unit.floor,
        bedrooms=unit.bedrooms,
        area_m2=str(unit.area_m2),
        price=money.fmt(unit.price, project.currency),
        currency=project.currency,
        status=status,
        held_until=unit.held_until if status == UnitStatus.held else None,
        created_at=unit.created_at,
        updated_at=unit.updated_at,
    )


# --- a unit's sale state: the only statements that change it (holds and bookings call these) ----


async def claim_for_hold(
    session: AsyncSession, *, unit_id: uuid.UUID, hold_id: uuid.UUID, now: datetime, until: datetime
) -> bool:
    """Give the unit to a new hold if it is neither booked nor held by a hold still running at
    `now`. One conditional update: concurrent claims queue on the row and re-check, one wins."""
    claimed = await session.scalar(
        update(Unit)
        .where(Unit.id == unit_id, queries.available(now))
        .values(hold_id=hold_id, held_until=until, updated_at=func.now())
        .returning(Unit.id)
    )
    return claimed is not None


async def end_hold(session: AsyncSession, *, unit_id: uuid.UUID, hold_id: uuid.UUID) -> None:
    """Free the unit of this hold (released); a unit another hold has claimed since is left alone."""
    await session.execute(
        update(Unit)
        .where(Unit.id == unit_id, Unit.hold_id == hold_id)
        .values(hold_id=None, held_until=None, updated_at=func.now())
    )


async def reserve(
    session: AsyncSession, *, unit_id: uuid.UUID, hold_id: uuid.UUID, booking_id: uuid.UUID, now: datetime
) -> Decimal | None:
    """Turn the unit's running hold into a booking; the unit's price then, or None if that hold
    no longer holds it (lapsed, released, or another hold has claimed the unit)."""
    price: Decimal | None = await session.scalar(
        update(Unit)
        .where(Unit.id == unit_id, Unit.hold_id == hold_id, Unit.held_until > now, Unit.sale_status.is_(None))
        .values(hold_id=None, held_until=None, booking_id=booking_id, sale_status="reserved", updated_at=func.now())
        .returning(Unit.price)
    )
    return price


async def mark_sold(session: AsyncSession, *, unit_id: uuid.UUID, booking_id: uuid.UUID) -> None:
    await session.execute(
        update(Unit)
        .where(Unit.id == unit_id, Unit.booking_id == booking_id)
        .values(sale_status="sold", updated_at=func.now())
    )


async def end_booking(session: AsyncSession, *, unit_id: uuid.UUID, booking_id: uuid.UUID) -> None:
    await session.execute(
        update(Unit)
        .where(Unit.id == unit_id, Unit.booking_id == booking_id)
        .values(booking_id=None, sale_status=None, updated_at=func.now())
    )
