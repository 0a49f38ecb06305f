import uuid
from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints

from app.core.schemas import InputSchema, Schema


class RatingCreate(InputSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"score": 5, "comment": "Quick and friendly."}]})

    score: Annotated[int, Field(ge=1, le=5)]
    comment: Annotated[str, StringConstraints(max_length=2000)] | None = None


class ReplyCreate(InputSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"body": "Thank you, see you next time!"}]})

    body: Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class ReplyRead(Schema):
    body: str
    created_at: datetime


class RatingRead(Schema):
    """A rating as everyone sees it: no author identity, and the organization's reply if any."""

    id: uuid.UUID
    appointment_id: uuid.UUID
    service_id: uuid.UUID
    organization_id: uuid.UUID
    score: int
    comment: str | None
    created_at: datetime
    reply: ReplyRead | None
