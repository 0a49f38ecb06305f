import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from app.core.database import EngineDep, SessionDep
from app.core.dependencies import PageDep, SettingsDep
from app.core.schemas import Page, json_response, page_response
from app.services.knowledge import service as knowledge_service
from app.services.knowledge.dependencies import (
    ArticleEditor,
    ArticleWriter,
    Now,
    OptionalAccess,
    OptionalUser,
)
from app.services.knowledge.models import ArticleStatus
from app.services.knowledge.schemas import ArticleCreate, ArticleRead, ArticleUpdate, AssistantAnswer, AssistantAsk

router = APIRouter(tags=["knowledge base"])

_ARTICLE: dict[int | str, dict[str, Any]] = {
    401: {"description": "`not_authenticated`: a bearer token was sent but is not valid"},
    404: {"description": "`not_found`: no such article, or a draft of another organization"},
}
_CHANGE: dict[int | str, dict[str, Any]] = {
    **_ARTICLE,
    403: {"description": "`forbidden`: not a member of the article's organization"},
    422: {"description": "`invalid_category`, `validation_error`"},
}


@router.post(
    "/organizations/{organization_id}/articles",
    status_code=201,
    responses={
        403: {"description": "`forbidden`: not a member"},
        404: {"description": "`not_found`: no such organization"},
        422: {"description": "`invalid_category`, `validation_error`"},
    },
)
async def create_article(data: ArticleCreate, access: ArticleWriter, session: SessionDep, now: Now) -> ArticleRead:
    """Members: write an article, as a `draft` (members only) or `published` (public)."""
    article = await knowledge_service.create(session, organization=access.organization, data=data, now=now)
    return ArticleRead.model_validate(article)


@router.get(
    "/organizations/{organization_id}/articles",
    response_model=Page[ArticleRead],
    responses={
        401: {"description": "`not_authenticated`: a bearer token was sent but is not valid"},
        404: {"description": "`not_found`: no such organization"},
        422: {"description": "`validation_error`"},
    },
)
async def list_articles(
    organization_id: uuid.UUID,
    caller: OptionalAccess,
    engine: EngineDep,
    page: PageDep,
    q: Annotated[
        str | None,
        Query(max_length=200, description='Full-text search, web syntax: `renew passport`, `"lost card" -stolen`'),
    ] = None,
    status: Annotated[ArticleStatus | None, Query(description="Drafts: members only")] = None,
) -> Any:
    """Public: the organization's published articles (members: drafts too). With `q`, the
    matches by rank (title counts more than body), each with a `snippet`; else the most recently
    updated first."""
    items, total = await knowledge_service.get_all(
        engine,
        organization_id=organization_id,
        claims=caller,
        q=q.strip() if q else None,
        status=status,
        offset=page.offset,
        limit=page.size,
    )
    return page_response(items, total=total, page=page.page, size=page.size)


@router.get("/articles/{article_id}", responses=_ARTICLE)
async def get_article(article_id: uuid.UUID, user: OptionalUser, session: SessionDep) -> ArticleRead:
    """Public when published; drafts: the organization's members only."""
    article, _ = await knowledge_service.get_visible(session, user=user, article_id=article_id)
    return ArticleRead.model_validate(article)


@router.patch("/articles/{article_id}", responses=_CHANGE)
async def update_article(
    article_id: uuid.UUID, data: ArticleUpdate, user: ArticleEditor, session: SessionDep, now: Now
) -> ArticleRead:
    """Members: change an article; publishing stamps `published_at`, back to draft clears it."""
    article = await knowledge_service.get_for_member(session, user=user, article_id=article_id)
    article = await knowledge_service.update(session, article=article, data=data, now=now)
    return ArticleRead.model_validate(article)


@router.delete("/articles/{article_id}", status_code=204, responses={**_ARTICLE, 403: _CHANGE[403]})
async def delete_article(article_id: uuid.UUID, user: ArticleEditor, session: SessionDep) -> None:
    """Members: delete an article."""
    article = await knowledge_service.get_for_member(session, user=user, article_id=article_id)
    await knowledge_service.delete(session, article=article)


@router.post(
    "/organizations/{organization_id}/assistant/ask",
    response_model=AssistantAnswer,
    responses={
        404: {"description": "`not_found`: no such organization"},
        422: {"description": "`validation_error`"},
        429: {"description": "`rate_limited`: too many questions from this address, with `Retry-After`"},
    },
)
async def ask_assistant(
    organization_id: uuid.UUID, data: AssistantAsk, request: Request, engine: EngineDep, settings: SettingsDep
) -> Any:
    """Public: answer a question from the organization's published articles. Each article's
    `score` is the share of the question's terms (English stems, stop words left out) it holds;
    up to 3 sources with a score above 0, best first. `answered` when the best scores at least
    0.5 (`answer` is then its snippet); otherwise `answer` is null and `suggest_ticket` true."""
    answer = await knowledge_service.ask(
        engine,
        settings=settings,
        organization_id=organization_id,
        question=data.question,
        address=request.client.host if request.client else None,
    )
    return json_response(answer)
