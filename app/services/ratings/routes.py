import uuid

from fastapi import APIRouter, status

from app.core.database import SessionDep
from app.core.dependencies import PageDep
from app.core.schemas import Page
from app.services.auth.dependencies import CurrentUser
from app.services.ratings import service as ratings_service
from app.services.ratings.models import Rating
from app.services.ratings.schemas import RatingCreate, RatingRead, ReplyCreate, ReplyRead

router = APIRouter(tags=["ratings"])


def to_read(rating: Rating) -> RatingRead:
    reply = (
        ReplyRead(body=rating.reply_body, created_at=rating.replied_at)
        if rating.reply_body is not None and rating.replied_at is not None
        else None
    )
    return RatingRead(
        id=rating.id,
        appointment_id=rating.appointment_id,
        service_id=rating.service_id,
        organization_id=rating.organization_id,
        score=rating.score,
        comment=rating.comment,
        created_at=rating.created_at,
        reply=reply,
    )


@router.post(
    "/appointments/{appointment_id}/rating",
    status_code=status.HTTP_201_CREATED,
    responses={
        404: {"description": "`not_found`: no such appointment of yours"},
        409: {"description": "`not_completed`, `already_rated`"},
    },
)
async def rate_appointment(
    appointment_id: uuid.UUID, data: RatingCreate, user: CurrentUser, session: SessionDep
) -> RatingRead:
    """Rate your completed appointment from 1 to 5, with an optional comment. Once per appointment."""
    rating = await ratings_service.rate(
        session, citizen=user, appointment_id=appointment_id, score=data.score, comment=data.comment
    )
    return to_read(rating)


@router.get("/services/{service_id}/ratings", responses={404: {"description": "`not_found`: no such service"}})
async def list_service_ratings(service_id: uuid.UUID, session: SessionDep, page: PageDep) -> Page[RatingRead]:
    """Public: a service's ratings, newest first, each with the organization's reply if any."""
    rows, total = await ratings_service.get_for_service(
        session, service_id=service_id, offset=page.offset, limit=page.size
    )
    return Page.build([to_read(r) for r in rows], total=total, page=page.page, size=page.size)


@router.post(
    "/ratings/{rating_id}/reply",
    status_code=status.HTTP_201_CREATED,
    responses={
        403: {"description": "`forbidden`: the rating is another organization's"},
        404: {"description": "`not_found`: no such rating"},
        409: {"description": "`already_replied`"},
    },
)
async def reply_to_rating(
    rating_id: uuid.UUID, data: ReplyCreate, user: CurrentUser, session: SessionDep
) -> RatingRead:
    """Staff of the rated organization: answer a rating, once. The reply is public with the rating;
    the answer is the rating with its `reply`."""
    rating = await ratings_service.reply(session, author=user, rating_id=rating_id, body=data.body)
    return to_read(rating)
