"""Progress updates: how far a project has come, told to the people who bought in it.

An update may name one of the project's milestones (`app/services/properties/milestones.py`) and
set its percent (and so the project's `progress_percent`). It is announced to each customer with
an active booking (reserved or sold) in the project, once each, and to nobody else: an in-app
notification `progress_update`, which the notifications service also pushes as a live frame
through the realtime hub once the update commits.
"""

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import paging
from app.core.errors import PermissionDenied
from app.services.construction.errors import ProgressMilestoneUnknown, ProgressUpdateNotFound
from app.services.construction.models import ProgressPhoto, ProgressUpdate
from app.services.construction.schemas import PhotoRead, ProgressUpdateRead
from app.services.notifications import service as notifications_service
from app.services.properties import milestones as milestones_service
from app.services.properties import service as properties_service
from app.services.properties.errors import ProjectNotFound
from app.services.properties.models import Milestone, Project
from app.services.properties.schemas import MilestoneUpdate
from app.services.unit_sales import service as unit_sales_service
from app.services.users.models import User

PROGRESS_KIND = "progress_update"

# --- progress updates ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PhotoIn:
    filename: str
    content_type: str
    size: int
    sha256: str
    storage_key: str


async def create_update(
    session: AsyncSession,
    *,
    project: Project,
    author: User,
    body: str,
    milestone_id: uuid.UUID | None,
    percent_complete: int | None,
    photos: Sequence[PhotoIn],
    now: datetime,
) -> ProgressUpdate:
    """Record the update (setting its milestone's percent if given) and tell every buyer."""
    if percent_complete is not None and milestone_id is None:
        raise ProgressMilestoneUnknown("`percent_complete` needs the `milestone_id` it sets.")
    if milestone_id is not None:
        milestone = await session.get(Milestone, milestone_id, with_for_update=True)
        if milestone is None or milestone.project_id != project.id:
            raise ProgressMilestoneUnknown()
        if percent_complete is not None:
            await milestones_service.update(
                session,
                milestone=milestone,
                project=project,
                data=MilestoneUpdate(percent_complete=percent_complete),
                now=now,
            )
    update = ProgressUpdate(
        project_id=project.id,
        organization_id=project.organization_id,
        milestone_id=milestone_id,
        body=body,
        author_id=author.id,
        created_at=now,
    )
    session.add(update)
    await session.flush()
    session.add_all(
        ProgressPhoto(progress_update_id=update.id, position=position, **asdict(photo))
        for position, photo in enumerate(photos, start=1)
    )
    await session.flush()
    await session.refresh(update)
    await _announce(session, project=project, update=update)
    return update


async def _announce(session: AsyncSession, *, project: Project, update: ProgressUpdate) -> None:
    data = {"project_id": str(project.id), "progress_update_id": str(update.id)}
    body = notifications_service.clip(update.body, 300)
    for customer_id in await unit_sales_service.active_customer_ids(session, project_id=project.id):
        await notifications_service.notify(
            session,
            user_id=customer_id,
            kind=PROGRESS_KIND,
            title=f"Construction news: {project.name}",
            body=body,
            data=data,
        )


async def require_progress_reader(session: AsyncSession, *, project_id: uuid.UUID, user: User) -> Project:
    """The project, for its staff and its buyers (an active booking); 403 to others who can see
    the project, 404 to the rest."""
    project = await properties_service.get_project(session, project_id)
    if await unit_sales_service.is_active_buyer(session, user=user, project_id=project.id):
        return project
    project = await properties_service.get_visible_project(session, project_id=project_id, viewer=user)
    if not await properties_service.is_staff(session, user=user, organization_id=project.organization_id):
        raise PermissionDenied("Only the builder's staff and the project's buyers follow its progress.")
    return project


async def get_updates(
    session: AsyncSession, *, project: Project, offset: int, limit: int
) -> tuple[Sequence[ProgressUpdate], int]:
    query = select(ProgressUpdate).where(ProgressUpdate.project_id == project.id)
    order = [ProgressUpdate.created_at.desc(), ProgressUpdate.id.desc()]
    return await paging.page_of(session, query, order_by=order, offset=offset, limit=limit)


async def to_reads(session: AsyncSession, updates: Sequence[ProgressUpdate]) -> list[ProgressUpdateRead]:
    rows = await session.scalars(
        select(ProgressPhoto)
        .where(ProgressPhoto.progress_update_id.in_([u.id for u in updates]))
        .order_by(ProgressPhoto.progress_update_id, ProgressPhoto.position)
    )
    photos: dict[uuid.UUID, list[PhotoRead]] = {u.id: [] for u in updates}
    for photo in rows:
        photos[photo.progress_update_id].append(PhotoRead.model_validate(photo))
    return [
        ProgressUpdateRead(
            id=u.id,
            project_id=u.project_id,
            milestone_id=u.milestone_id,
            body=u.body,
            photos=photos[u.id],
            author_id=u.author_id,
            created_at=u.created_at,
            updated_at=u.updated_at,
        )
        for u in updates
    ]


async def get_photo(
    session: AsyncSession, *, progress_update_id: uuid.UUID, photo_id: uuid.UUID, user: User
) -> ProgressPhoto:
    photo = await session.get(ProgressPhoto, photo_id)
    update = await session.get(ProgressUpdate, progress_update_id)
    if photo is None or update is None or photo.progress_update_id != update.id:
        raise ProgressUpdateNotFound()
    try:
        await require_progress_reader(session, project_id=update.project_id, user=user)
    except ProjectNotFound as exc:
        raise ProgressUpdateNotFound() from exc
    return photo
