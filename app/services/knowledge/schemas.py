import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from app.core.schemas import InputSchema, Schema
from app.services.knowledge.models import MAX_BODY_CHARS, MAX_TITLE_CHARS, ArticleStatus

Title = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TITLE_CHARS)]
Body = Annotated[str, StringConstraints(min_length=1, max_length=MAX_BODY_CHARS)]
Question = Annotated[str, StringConstraints(min_length=1, max_length=500)]

_ARTICLE_EXAMPLE: dict[str, Any] = {
    "title": "How do I renew my passport?",
    "body": "Book an appointment, bring your old passport and a photo.",
    "status": "published",
}


class ArticleCreate(InputSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [_ARTICLE_EXAMPLE]})

    title: Title
    body: Body
    status: ArticleStatus = ArticleStatus.draft
    category_id: uuid.UUID | None = Field(default=None, description="One of the organization's ticket categories")


class ArticleUpdate(InputSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "published"}]})

    title: Title | None = None
    body: Body | None = None
    status: ArticleStatus | None = None
    category_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _no_null_required(self) -> "ArticleUpdate":
        for name in ("title", "body", "status"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"`{name}` cannot be null")
        return self


class ArticleRead(Schema):
    id: uuid.UUID
    organization_id: uuid.UUID
    title: str
    body: str
    status: ArticleStatus
    category_id: uuid.UUID | None
    published_at: datetime | None
    created_at: datetime
    updated_at: datetime
    snippet: str | None = Field(
        default=None, description="With `q`: the best passages, matched words between <mark> and </mark>"
    )
    rank: float | None = Field(default=None, description="With `q`: the full-text rank (higher is better)")


class AssistantAsk(InputSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"question": "How can I renew my passport?"}]})

    question: Question


class AssistantSource(Schema):
    id: uuid.UUID
    title: str
    url: str
    snippet: str
    score: float


class AssistantAnswer(Schema):
    answered: bool
    score: float = Field(description="The best source's score (0 without sources)")
    answer: str | None
    sources: list[AssistantSource]
    suggest_ticket: bool
