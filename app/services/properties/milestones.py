"""Construction milestones of a project: numbered 1, 2, ... in the order they are added; the
project's `progress_percent` is the mean of their percents, rounded down."""

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import paging
from app.services.organizations import service as organizations_service
from app.services.properties import service as properties_service
from app.services.properties.errors import MilestoneNotFound, ProjectNotFound
from app.services.properties.models import Milestone, Project
from app.services.properties.schemas import MilestoneCreate, MilestoneUpdate
from app.services.users.models import User


async def _mark_completed(session: AsyncSession, *, milestone: Milestone, project: Project, now: datetime) -> None:
    if milestone.percent_complete == 100 and milestone.completed_on is None:
        organization = await organizations_service.get_or_raise(session, project.organization_id)
        milestone.completed_on = properties_service.local_today(organization, now)


async def create(session: AsyncSession, *, project: Project, data: MilestoneCreate, now: datetime) -> Milestone:
    # The project's row is locked so that concurrent additions take positions one after the other.
    await session.execute(select(Project.id).where(Project.id == project.id).with_for_update())
    last = await session.scalar(select(func.max(Milestone.position)).where(Milestone.project_id == project.id))
    milestone = Milestone(project_id=project.id, position=(last or 0) + 1, **data.model_dump())
    await _mark_completed(session, milestone=milestone, project=project, now=now)
    session.add(milestone)
    await session.flush()
    await session.refresh(milestone)
    return milestone


async def get_visible(
    session: AsyncSession, *, milestone_id: uuid.UUID, viewer: User | None, for_update: bool = False
) -> tuple[Milestone, Project]:
    milestone = await session.get(Milestone, milestone_id, with_for_update=for_update)
    if milestone is None:
        raise MilestoneNotFound()
    try:
        project = await properties_service.get_visible_project(session, project_id=milestone.project_id, viewer=viewer)
    except ProjectNotFound as exc:
        raise MilestoneNotFound() from exc
    return milestone, project


async def update(
    session: AsyncSession, *, milestone: Milestone, project: Project, data: MilestoneUpdate, now: datetime
) -> Milestone:
    changes = data.model_dump(exclude_unset=True)
    for field, value in changes.items():
        if value is not None or field == "planned_on":
            setattr(milestone, field, value)
    await _mark_completed(session, milestone=milestone, project=project, now=now)
    await session.flush()
    await session.refresh(milestone)
    return milestone


async def get_all(
    session: AsyncSession, *, project: Project, offset: int, limit: int
) -> tuple[Sequence[Milestone], int]:
    query = select(Milestone).where(Milestone.project_id == project.id)
    order = [Milestone.position]
    return await paging.page_of(session, query, order_by=order, offset=offset, limit=limit)
