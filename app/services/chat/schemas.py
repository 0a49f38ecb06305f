import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.core.schemas import InputSchema, Schema
from app.services.chat.models import MAX_BODY_CHARS, MAX_CLIENT_ID_CHARS, ConversationStatus

Body = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_BODY_CHARS)]
ClientId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_CLIENT_ID_CHARS)]


class ConversationCreate(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "organization_id": "00000000-0000-4000-a000-000000000001",
                    "subject": "Which documents for a passport?",
                    "body": "Hello, do I need my old passport?",
                    "client_id": "c-1",
                }
            ]
        }
    )

    organization_id: uuid.UUID
    subject: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    appointment_id: uuid.UUID | None = None
    body: Body = Field(description="The first message (1 to 4,000 characters after trimming).")
    client_id: ClientId | None = None


class MessageCreate(InputSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"body": "Thank you!", "client_id": "c-2"}]})

    body: Body
    client_id: ClientId | None = Field(
        default=None, description="Your id for this message: sending it again stores nothing new (200)."
    )


class ReadCreate(InputSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"last_read_message_id": 1045}]})

    last_read_message_id: int = Field(ge=0, le=2**63 - 1)


class MessageRead(Schema):
    id: int
    conversation_id: uuid.UUID
    sender_id: uuid.UUID
    body: str
    client_id: str | None
    created_at: datetime


class ConversationRead(Schema):
    id: uuid.UUID
    organization_id: uuid.UUID
    citizen_id: uuid.UUID
    appointment_id: uuid.UUID | None
    subject: str
    status: ConversationStatus
    created_at: datetime
    last_activity_at: datetime
    closed_at: datetime | None
    last_message: MessageRead | None = None
    unread_count: int = 0


class MessagePage(BaseModel):
    items: list[MessageRead]
    has_more: bool


# -- WebSocket frames (client → server) -----------------------------------------------------------


class _Frame(BaseModel):
    model_config = ConfigDict(extra="ignore")


class SendFrame(_Frame):
    type: Literal["send"]
    conversation_id: uuid.UUID
    body: str  # bounded by the frame size; trimmed and checked by the handler (`body_too_long`)
    client_id: ClientId | None = None


class ReadFrame(_Frame):
    type: Literal["read"]
    conversation_id: uuid.UUID
    last_read_message_id: int = Field(ge=0, le=2**63 - 1)


class ResumeFrame(_Frame):
    type: Literal["resume"]
    conversation_id: uuid.UUID
    after_id: int = Field(ge=0, le=2**63 - 1)


class PingFrame(_Frame):
    type: Literal["ping"]


ClientFrame = Annotated[SendFrame | ReadFrame | ResumeFrame | PingFrame, Field(discriminator="type")]
