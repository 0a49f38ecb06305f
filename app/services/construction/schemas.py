import uuid
from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints

from app.core.schemas import InputSchema, Schema
from app.services.construction.models import ChangeRequestStatus
from app.services.properties import money

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=5000)]
Note = Annotated[str, StringConstraints(max_length=2000)]


class PhotoRead(Schema):
    id: uuid.UUID
    filename: str
    content_type: str
    size: int
    sha256: str


class ProgressUpdateRead(Schema):
    id: uuid.UUID
    project_id: uuid.UUID
    milestone_id: uuid.UUID | None
    body: str
    photos: list[PhotoRead]
    author_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class ChangeRequestCreate(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"title": "Kitchen island", "description": "An island with a sink instead of the bar."}]
        }
    )

    title: Name
    description: Text


class ChangeRequestQuote(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"amount": "4500.00", "days": 14, "note": "Granite top included."}]}
    )

    amount: money.AmountText = Field(description="≥ 0, in the booking's currency")
    days: Annotated[int, Field(ge=0, le=3650, description="Delay it adds to the handover")]
    note: Note | None = None


class ChangeRequestDecline(InputSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "The wall carries the floor above."}]})

    reason: Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class ChangeRequestReason(InputSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "Too expensive."}, {}]})

    reason: Note | None = None


class ChangeRequestRead(Schema):
    id: uuid.UUID
    booking_id: uuid.UUID
    unit_id: uuid.UUID
    status: ChangeRequestStatus
    title: str
    description: str
    amount: str | None = Field(description="The quote, in the booking's currency; null until quoted")
    days: int | None
    quote_note: str | None
    instalment_id: uuid.UUID | None = Field(description="The instalment an accepted positive quote added")
    created_at: datetime
    updated_at: datetime


class ChangeRequestEventRead(Schema):
    from_status: ChangeRequestStatus | None
    to_status: ChangeRequestStatus
    actor_id: uuid.UUID | None
    note: str | None
    at: datetime
