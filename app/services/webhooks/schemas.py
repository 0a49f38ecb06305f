import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from app.core.schemas import InputSchema, Schema

EventType = Literal[
    "ticket.created",
    "ticket.status_changed",
    "ticket.assigned",
    "ticket.message",
    "ticket.sla_breached",
    "appointment.booked",
    "appointment.cancelled",
]
Url = Annotated[str, StringConstraints(min_length=8, max_length=2000, pattern=r"^https?://")]
Events = Annotated[list[EventType], Field(min_length=1, max_length=7)]


class WebhookCreate(InputSchema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"url": "https://crm.example.com/hooks/queueless", "events": ["ticket.created", "ticket.message"]}
            ]
        }
    )

    url: Url
    events: Events


class WebhookUpdate(InputSchema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"active": False}]})

    url: Url | None = None
    events: Events | None = None
    active: bool | None = None

    @model_validator(mode="after")
    def _no_null(self) -> "WebhookUpdate":
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"`{name}` cannot be null")
        return self


class WebhookRead(Schema):
    id: uuid.UUID
    organization_id: uuid.UUID
    url: str
    events: list[str]
    active: bool
    created_at: datetime


class WebhookCreated(WebhookRead):
    secret: str = Field(description="Shown only here: the key of the `X-Queueless-Signature` HMAC")


class AttemptRead(Schema):
    at: datetime
    status_code: int | None
    error: str | None


class DeliveryRead(Schema):
    id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    status: Literal["pending", "succeeded", "failed"]
    attempts: list[AttemptRead]
    next_attempt_at: datetime | None
    created_at: datetime
