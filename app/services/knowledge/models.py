"""Knowledge-base articles, searchable by PostgreSQL full-text search.

`search` is a generated column (title weighted above body, English stemming) with a GIN index, so
a search is an index scan and the vector can never disagree with the text.

`article_terms` is the same index turned around for ranking: one row per article and lexeme, with
the rank a one-word query gives the article there (`ts_rank_cd`), kept by triggers on `articles`
(migration 0023) as the GIN index is kept by PostgreSQL, and `article_term_counts` how many articles
hold each lexeme. A one-word search reads its page from the start of one range of
`ix_article_terms_rank` (index only) and its total from one counter, instead of ranking and counting
every match.
"""

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    REAL,
    Boolean,
    CheckConstraint,
    Column,
    Computed,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from app.core.database import Base

# The text search configuration of articles, questions and queries: they must agree.
TEXT_CONFIG = "english"
MAX_TITLE_CHARS = 300
MAX_BODY_CHARS = 100_000


class ArticleStatus(StrEnum):
    draft = "draft"
    published = "published"


class Article(Base):
    __tablename__ = "articles"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'published')", name="status"),
        # fastupdate off: articles are written rarely and searched often, so new entries go
        # straight into the index instead of a pending list every search would scan.
        Index("ix_articles_search", "search", postgresql_using="gin", postgresql_with={"fastupdate": "off"}),
        Index("ix_articles_organization_id_status_updated_at", "organization_id", "status", "updated_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organization_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(MAX_TITLE_CHARS))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    category_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ticket_categories.id", ondelete="SET NULL"))
    search: Mapped[str] = mapped_column(
        TSVECTOR,
        Computed(
            f"setweight(to_tsvector('{TEXT_CONFIG}'::regconfig, coalesce(title, '')), 'A')"
            f" || setweight(to_tsvector('{TEXT_CONFIG}'::regconfig, coalesce(body, '')), 'B')",
            persisted=True,
        ),
        deferred=True,
    )
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


# Derived from `articles` by triggers (never written by the app), like a second index: no key of its
# own beyond the index, no foreign key (the triggers delete an article's rows with it). `score` is
# `ts_rank_cd(search, '<lexeme>')`, bit for bit what the one-word query ranks the article by.
article_terms = Table(
    "article_terms",
    Base.metadata,
    Column("organization_id", Uuid, nullable=False),
    Column("lexeme", Text, nullable=False),
    Column("score", REAL, nullable=False),
    Column("article_id", Uuid, nullable=False),
    Column("published", Boolean, nullable=False),
)
# A one-word page in the search's order (rank, then id) and its total, from the index alone.
Index(
    "ix_article_terms_rank",
    article_terms.c.organization_id,
    article_terms.c.lexeme,
    article_terms.c.score.desc(),
    article_terms.c.article_id,
    unique=True,
    postgresql_include=["published"],
)
# Per organization and lexeme: how many published articles and drafts hold it (the length of its
# range above), kept by the same triggers.
article_term_counts = Table(
    "article_term_counts",
    Base.metadata,
    Column("organization_id", Uuid, nullable=False),
    Column("lexeme", Text, nullable=False),
    Column("published", Integer, nullable=False),
    Column("drafts", Integer, nullable=False),
    PrimaryKeyConstraint("organization_id", "lexeme"),
)
