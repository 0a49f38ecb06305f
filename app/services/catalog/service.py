"""Services of an organization, their document requirements, opening hours and closures."""

import itertools
import uuid
from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import paging
from app.core.errors import InvalidRange
from app.services.catalog.errors import (
    OverlappingOpeningHours,
    ServiceNotFound,
    SlotShorterThanDuration,
    UnknownRequirement,
)
from app.services.catalog.models import Closure, OpeningHours, Requirement, Service
from app.services.catalog.schemas import (
    ClosureCreate,
    OpeningRange,
    Rating,
    RequirementIn,
    RequirementRead,
    ScheduleIn,
    ScheduleRead,
    ServiceCreate,
    ServiceRead,
    ServiceUpdate,
)
from app.services.organizations import service as organizations_service
from app.services.organizations.models import Organization


async def get_or_raise(session: AsyncSession, service_id: uuid.UUID, *, for_update: bool = False) -> Service:
    """The service; `for_update` locks it so concurrent schedule or requirement edits serialise.

    The lock is FOR NO KEY UPDATE: it does not conflict with the key-share lock that booking an
    appointment (a row referencing the service) takes, so bookings go on during an edit."""
    lock = {"key_share": True} if for_update else None
    service = await session.get(Service, service_id, with_for_update=lock)
    if service is None:
        raise ServiceNotFound()
    return service


async def create(session: AsyncSession, *, organization: Organization, data: ServiceCreate) -> Service:
    if data.department_id is not None:
        await organizations_service.check_department(
            session, organization_id=organization.id, department_id=data.department_id
        )
    service = Service(
        organization_id=organization.id,
        department_id=data.department_id,
        name=data.name,
        description=data.description,
        duration_minutes=data.duration_minutes,
        capacity=data.capacity,
    )
    session.add(service)
    await session.flush()
    _add_requirements(session, service_id=service.id, items=data.requirements, start=0)
    await session.flush()
    return service


def _add_requirements(
    session: AsyncSession, *, service_id: uuid.UUID, items: Sequence[RequirementIn], start: int
) -> None:
    for position, item in enumerate(items, start=start):
        session.add(Requirement(service_id=service_id, name=item.name, mandatory=item.mandatory, position=position))


async def update(session: AsyncSession, *, service: Service, data: ServiceUpdate) -> Service:
    changes = data.model_dump(exclude_unset=True, exclude={"requirements"})
    if changes.get("department_id") is not None:
        await organizations_service.check_department(
            session, organization_id=service.organization_id, department_id=changes["department_id"]
        )
    new_duration = changes.get("duration_minutes") or service.duration_minutes
    if service.slot_minutes is not None and service.slot_minutes < new_duration:
        raise SlotShorterThanDuration()
    for field, value in changes.items():
        if value is None and field not in {"description", "department_id"}:
            continue
        setattr(service, field, value)
    if data.requirements is not None:
        await _replace_requirements(session, service=service, items=data.requirements)
    await session.flush()
    return service


async def _replace_requirements(session: AsyncSession, *, service: Service, items: Sequence[RequirementIn]) -> None:
    existing = {r.id: r for r in await session.scalars(select(Requirement).where(Requirement.service_id == service.id))}
    kept = {item.id for item in items if item.id is not None}
    if not kept <= existing.keys():
        raise UnknownRequirement()
    for requirement_id, requirement in existing.items():
        if requirement_id not in kept:
            await session.delete(requirement)
    for position, item in enumerate(items):
        if item.id is not None:
            existing[item.id].name, existing[item.id].mandatory = item.name, item.mandatory
            existing[item.id].position = position
        else:
            _add_requirements(session, service_id=service.id, items=[item], start=position)


async def get_all(
    session: AsyncSession, *, organization_id: uuid.UUID | None, q: str | None, offset: int, limit: int
) -> tuple[Sequence[Service], int]:
    query = select(Service).where(Service.is_active.is_(True))
    if organization_id is not None:
        query = query.where(Service.organization_id == organization_id)
    if q:
        pattern = paging.contains(q)
        query = query.where(Service.name.ilike(pattern) | Service.description.ilike(pattern))
    return await paging.page_of(session, query, order_by=[Service.name, Service.id], offset=offset, limit=limit)


async def to_reads(session: AsyncSession, services: Sequence[Service]) -> list[ServiceRead]:
    """Service bodies with their requirements, loaded for the whole page in one query."""
    by_service: dict[uuid.UUID, list[RequirementRead]] = defaultdict(list)
    if services:
        rows = await session.scalars(
            select(Requirement)
            .where(Requirement.service_id.in_([s.id for s in services]))
            .order_by(Requirement.position, Requirement.name)
        )
        for requirement in rows:
            by_service[requirement.service_id].append(RequirementRead.model_validate(requirement))
    return [
        ServiceRead(
            id=s.id,
            organization_id=s.organization_id,
            department_id=s.department_id,
            name=s.name,
            description=s.description,
            duration_minutes=s.duration_minutes,
            capacity=s.capacity,
            is_active=s.is_active,
            requirements=by_service[s.id],
            rating=Rating(
                average=round(s.rating_total / s.rating_count, 2) if s.rating_count else None, count=s.rating_count
            ),
            created_at=s.created_at,
        )
        for s in services
    ]


async def get_opening_hours(session: AsyncSession, *, service_id: uuid.UUID) -> list[OpeningHours]:
    rows = await session.scalars(
        select(OpeningHours)
        .where(OpeningHours.service_id == service_id)
        .order_by(OpeningHours.weekday, OpeningHours.opens)
    )
    return list(rows)


def _check_ranges(weekly: Sequence[OpeningRange]) -> None:
    by_day: dict[int, list[OpeningRange]] = defaultdict(list)
    for item in weekly:
        by_day[item.weekday].append(item)
    for ranges in by_day.values():
        ranges.sort(key=lambda r: r.opens)
        for before, after in itertools.pairwise(ranges):
            if after.opens < before.closes:
                raise OverlappingOpeningHours()


async def set_schedule(session: AsyncSession, *, service: Service, data: ScheduleIn) -> ScheduleRead:
    """Replace the weekly opening hours and booking rules in one go."""
    if data.slot_minutes is not None and data.slot_minutes < service.duration_minutes:
        raise SlotShorterThanDuration()
    _check_ranges(data.weekly)
    service.slot_minutes = data.slot_minutes
    service.min_notice_minutes = data.min_notice_minutes
    service.max_days_ahead = data.max_days_ahead
    await session.execute(delete(OpeningHours).where(OpeningHours.service_id == service.id))
    session.add_all(
        OpeningHours(service_id=service.id, weekday=r.weekday, opens=r.opens, closes=r.closes) for r in data.weekly
    )
    await session.flush()
    return await get_schedule(session, service=service)


async def get_schedule(session: AsyncSession, *, service: Service) -> ScheduleRead:
    hours = await get_opening_hours(session, service_id=service.id)
    return ScheduleRead(
        service_id=service.id,
        slot_minutes=service.step_minutes,
        weekly=[{"weekday": h.weekday, "opens": h.opens, "closes": h.closes} for h in hours],
        min_notice_minutes=service.min_notice_minutes,
        max_days_ahead=service.max_days_ahead,
    )


async def add_closure(session: AsyncSession, *, service: Service, data: ClosureCreate) -> Closure:
    if data.ends_on < data.starts_on:
        raise InvalidRange("A closure must end on or after the day it starts.")
    closure = Closure(service_id=service.id, starts_on=data.starts_on, ends_on=data.ends_on, reason=data.reason)
    session.add(closure)
    await session.flush()
    return closure
