"""Knowledge base: articles (drafts for members, published ones for everyone), their full-text
search, and the assistant that answers a question from the published articles.

Search is PostgreSQL's: `websearch_to_tsquery` over the generated `search` vector (GIN index),
ranked by `ts_rank_cd`, with `ts_headline` snippets computed for the page's rows only, as one
prepared statement (`queries.py`; a one-word query reads its ranks from `article_terms`).

The assistant's score is deterministic and explainable: the question's terms are its lexemes
(English stemming, stop words dropped, each counted once) and an article's score is the share of
those terms it contains. It answers when the best article holds at least half of them.
"""

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.core import prepared
from app.core.errors import PermissionDenied, RateLimited
from app.core.security import AccessClaims
from app.core.settings import Settings
from app.services.auth import service as auth_service
from app.services.auth import throttle
from app.services.auth.errors import LoginEnded
from app.services.knowledge import queries as knowledge_queries
from app.services.knowledge.errors import ArticleNotFound
from app.services.knowledge.models import Article, ArticleStatus
from app.services.knowledge.schemas import ArticleCreate, ArticleUpdate, AssistantAnswer, AssistantSource
from app.services.organizations import service as organizations_service
from app.services.organizations.errors import OrganizationNotFound
from app.services.organizations.models import Organization
from app.services.tickets import service as tickets_service
from app.services.users.models import User

ANSWER_THRESHOLD = 0.5


def url_of(article_id: uuid.UUID) -> str:
    return f"/api/v1/articles/{article_id}"


# --- articles -----------------------------------------------------------------------------------


async def _is_member(session: AsyncSession, *, user: User | None, organization_id: uuid.UUID) -> bool:
    return user is not None and await organizations_service.is_staff(
        session, user=user, organization_id=organization_id
    )


async def create(session: AsyncSession, *, organization: Organization, data: ArticleCreate, now: datetime) -> Article:
    if data.category_id is not None:
        await tickets_service.check_category(session, organization_id=organization.id, category_id=data.category_id)
    article = Article(
        organization_id=organization.id,
        title=data.title,
        body=data.body,
        status=data.status,
        category_id=data.category_id,
        published_at=now if data.status == ArticleStatus.published else None,
        created_at=now,
        updated_at=now,
    )
    session.add(article)
    await session.flush()
    return article


async def get_visible(session: AsyncSession, *, user: User | None, article_id: uuid.UUID) -> tuple[Article, bool]:
    """The article and whether the caller is a member: drafts are their organization's only."""
    article = await session.get(Article, article_id)
    if article is None:
        raise ArticleNotFound()
    member = await _is_member(session, user=user, organization_id=article.organization_id)
    if article.status != ArticleStatus.published and not member:
        raise ArticleNotFound()
    return article, member


async def get_for_member(session: AsyncSession, *, user: User, article_id: uuid.UUID) -> Article:
    """For changes: outsiders learn nothing of drafts (404); a published article exists for them (403)."""
    article, member = await get_visible(session, user=user, article_id=article_id)
    if not member:
        raise PermissionDenied("Only the organization's members may change its articles.")
    return article


async def update(session: AsyncSession, *, article: Article, data: ArticleUpdate, now: datetime) -> Article:
    changes = data.model_dump(exclude_unset=True)
    if changes.get("category_id") is not None:
        await tickets_service.check_category(
            session, organization_id=article.organization_id, category_id=changes["category_id"]
        )
    status = changes.get("status")
    if status is not None and status != article.status:
        article.published_at = now if status == ArticleStatus.published else None
    for field, value in changes.items():
        setattr(article, field, value)
    article.updated_at = now
    await session.flush()
    return article


async def delete(session: AsyncSession, *, article: Article) -> None:
    await session.delete(article)
    await session.flush()


# --- search -------------------------------------------------------------------------------------


async def get_all(
    engine: AsyncEngine,
    *,
    organization_id: uuid.UUID,
    claims: AccessClaims | None,
    q: str | None,
    status: ArticleStatus | None,
    offset: int,
    limit: int,
) -> tuple[str, int]:
    """Published articles for everyone, drafts too for members; with `q` by rank with snippets,
    else most recently updated first. The page as JSON text of `ArticleRead` bodies and the total:
    one round trip, the organization check (404) and the login check (401) included."""
    shape = knowledge_queries.Shape.of(q=q, status=status is not None)
    params: dict[str, Any] = {
        "organization_id": organization_id,
        "q": q,
        "status": status.value if status else None,
        "published": status == ArticleStatus.published,
        "offset": offset,
    }
    if claims is None:
        statement = knowledge_queries.page_statement(shape, signed_in=False, size=limit)
        row = await prepared.fetchrow(engine, statement, **params)
    else:
        statement = knowledge_queries.page_statement(shape, signed_in=True, size=limit)
        row = await prepared.fetchrow(engine, statement, **params, **auth_service.login_parameters(claims))
        if row is None:
            raise LoginEnded()
    if row is None or row["standing_organization_id"] is None:
        raise OrganizationNotFound()
    return row["items"], row["total"]


# --- the assistant ------------------------------------------------------------------------------


async def ask(
    engine: AsyncEngine, *, settings: Settings, organization_id: uuid.UUID, question: str, address: str | None
) -> AssistantAnswer:
    """The answer from the organization's published articles, counted against the address's rate
    limit (the house's counters in PostgreSQL, shared by every process): two statements on one
    borrowed connection, the counter's first."""
    window = timedelta(seconds=settings.assistant_window_seconds)
    counted, answer = knowledge_queries.COUNTED, knowledge_queries.SOURCES
    async with prepared.borrow(engine) as connection:
        key = f"assistant:addr:{address or 'unknown'}"
        gate = {"organization_id": organization_id, "key": key, "window": window}
        row = await connection.fetchrow(
            counted.sql, *counted.arguments({**gate, "limit": settings.assistant_asks_per_window})
        )
        assert row is not None
        if row["organization_id"] is None:
            raise OrganizationNotFound()
        if row["count"] is None:
            wait = throttle.seconds_until(row["window_start"] + window)
            raise RateLimited(wait, "Too many questions from this address; try again later.")
        found = await connection.fetchval(
            answer.sql, *answer.arguments({"organization_id": organization_id, "question": question})
        )
    sources = [
        AssistantSource(id=s["id"], title=s["title"], url=url_of(s["id"]), snippet=s["snippet"], score=s["score"])
        for s in found or []
    ]
    best = sources[0].score if sources else 0.0
    answered = best >= ANSWER_THRESHOLD
    return AssistantAnswer(
        answered=answered,
        score=best,
        answer=sources[0].snippet if answered else None,
        sources=sources,
        suggest_ticket=not answered,
    )
