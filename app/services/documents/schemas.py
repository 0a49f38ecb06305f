import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field

from app.core.schemas import InputSchema, Schema


class DocumentRead(Schema):
    id: uuid.UUID
    filename: str
    content_type: str = Field(
        description="Decided from the content: application/pdf, image/png, image/jpeg, image/webp"
    )
    size: int
    sha256: str
    status: str = Field(description="pending, approved, rejected, or replaced (a later upload took its place)")
    appointment_id: uuid.UUID | None
    requirement_id: uuid.UUID | None
    ticket_id: uuid.UUID | None = Field(description="The helpdesk ticket it was uploaded for")
    owner_id: uuid.UUID
    organization_id: uuid.UUID | None
    review_note: str | None
    reviewed_at: datetime | None
    created_at: datetime


class Decision(StrEnum):
    approved = "approved"
    rejected = "rejected"


class DocumentReview(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"decision": "rejected", "note": "The scan is cut off at the bottom."}]}
    )

    decision: Decision
    note: Annotated[str | None, Field(max_length=1000, description="Required when rejecting")] = None
