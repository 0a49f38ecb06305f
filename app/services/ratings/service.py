"""One rating per completed appointment; the service's running count and total kept with it."""

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import paging
from app.services.appointments.models import Appointment, Status
from app.services.catalog import service as catalog_service
from app.services.catalog.models import Service
from app.services.notifications import service as notifications_service
from app.services.organizations import service as organizations_service
from app.services.organizations.models import MemberRole
from app.services.ratings.errors import (
    AlreadyRated,
    AlreadyReplied,
    NotCompleted,
    RatedAppointmentNotFound,
    RatingNotFound,
)
from app.services.ratings.models import Rating
from app.services.users.models import User


async def rate(
    session: AsyncSession, *, citizen: User, appointment_id: uuid.UUID, score: int, comment: str | None
) -> Rating:
    """Rate one's own completed appointment, once.

    The unique appointment_id settles concurrent attempts; the service's `rating_count` and
    `rating_total` move by one atomic UPDATE in the same transaction, so concurrent ratings of one
    service never lose an increment.
    """
    appointment = await session.scalar(
        select(Appointment).where(Appointment.id == appointment_id, Appointment.citizen_id == citizen.id)
    )
    if appointment is None:
        raise RatedAppointmentNotFound()
    if appointment.status != Status.completed:
        raise NotCompleted()
    rating_id = await session.scalar(
        insert(Rating)
        .values(
            id=uuid.uuid4(),
            appointment_id=appointment.id,
            service_id=appointment.service_id,
            organization_id=appointment.organization_id,
            citizen_id=citizen.id,
            score=score,
            comment=comment or None,
        )
        .on_conflict_do_nothing(index_elements=[Rating.appointment_id])
        .returning(Rating.id)
    )
    if rating_id is None:
        raise AlreadyRated()
    await session.execute(
        update(Service)
        .where(Service.id == appointment.service_id)
        .values(rating_count=Service.rating_count + 1, rating_total=Service.rating_total + score)
        .execution_options(synchronize_session=False)
    )
    return await _get(session, rating_id)


async def _get(session: AsyncSession, rating_id: uuid.UUID) -> Rating:
    rating = await session.get(Rating, rating_id, populate_existing=True)
    assert rating is not None
    return rating


async def get_for_service(
    session: AsyncSession, *, service_id: uuid.UUID, offset: int, limit: int
) -> tuple[Sequence[Rating], int]:
    """A service's ratings, newest first (public)."""
    await catalog_service.get_or_raise(session, service_id)
    query = select(Rating).where(Rating.service_id == service_id)
    order = [Rating.created_at.desc(), Rating.id.desc()]
    return await paging.page_of(session, query, order_by=order, offset=offset, limit=limit)


async def reply(session: AsyncSession, *, author: User, rating_id: uuid.UUID, body: str) -> Rating:
    """The organization's one public answer to a rating (its staff, or an administrator)."""
    organization_id = await session.scalar(select(Rating.organization_id).where(Rating.id == rating_id))
    if organization_id is None:
        raise RatingNotFound()
    # Ratings are public: someone outside the organization sees this one, and gets 403.
    await organizations_service.require_member_role(
        session, user=author, organization_id=organization_id, minimum=MemberRole.staff
    )
    # Conditional: of two concurrent replies exactly one finds reply_body still NULL.
    replied = await session.scalar(
        update(Rating)
        .where(Rating.id == rating_id, Rating.reply_body.is_(None))
        .values(reply_body=body, reply_author_id=author.id, replied_at=func.now())
        .returning(Rating.id)
        .execution_options(synchronize_session=False)
    )
    if replied is None:
        raise AlreadyReplied()
    rating = await _get(session, rating_id)
    await notifications_service.notify(
        session,
        user_id=rating.citizen_id,
        kind="rating_reply",
        title="Your rating got a reply",
        body=notifications_service.clip(body, 300),
        data={
            "rating_id": str(rating.id),
            "appointment_id": str(rating.appointment_id),
            "service_id": str(rating.service_id),
        },
    )
    return rating
